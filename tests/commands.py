"""Running the ``smsgate`` command as an operator does, in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def smsgate(
    workdir: Path, *args: str, stdin: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``smsgate *args`` run in ``workdir`` (its data folder too), with ``settings`` as its
    ``SMSGATE_`` variables and ``stdin`` on its standard input."""
    environment = {
        **os.environ,
        "SMSGATE_DATA_DIR": str(workdir),
        **{f"SMSGATE_{name.upper()}": value for name, value in settings.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "smsgate", *args],
        env=environment,
        cwd=workdir,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
