"""Files that each process of a data folder writes about itself, for the others to read.

A process writes ``<folder>/<pid><suffix>`` whole every ``INTERVAL`` (a reader never sees half
of one), and once more as it stops. A file not rewritten for ``LIVE_SECONDS`` is of a process
that ended; one not rewritten for ``KEPT_SECONDS`` is deleted by the next process that starts
writing to the folder. The connectors' status and the processes' counters are such files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

INTERVAL: Final = 1.0
LIVE_SECONDS: Final = 5.0
KEPT_SECONDS: Final = 24 * 3600.0


def replace_file(path: Path, content: bytes) -> None:
    """Write ``path`` whole: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_name(f".{path.name}.tmp")
    written.write_bytes(content)
    written.replace(path)


def own_file(folder: Path, suffix: str) -> Path:
    return folder / f"{os.getpid()}{suffix}"


async def publish(folder: Path, suffix: str, render: Callable[[bool], bytes]) -> None:
    """Write ``render(True)`` to this process's file every ``INTERVAL`` until cancelled, then
    ``render(False)`` (the argument: whether the process still runs).

    A write that fails (a full disk, a folder made read-only) is logged and tried again at the
    next interval: the process's other work runs beside this task and must not stop with it.
    """
    path = own_file(folder, suffix)
    failing = False
    try:
        _delete_old(folder, suffix)
        while True:
            try:
                replace_file(path, render(True))
            except OSError as error:
                if not failing:
                    log.warning(
                        "cannot write %s: %s; trying again every %ss", path, error, INTERVAL
                    )
                failing = True
            else:
                failing = False
            await asyncio.sleep(INTERVAL)
    finally:
        try:
            replace_file(path, render(False))
        except OSError as error:
            log.warning("cannot write %s: %s", path, error)


def _delete_old(folder: Path, suffix: str) -> None:
    cutoff = time.time() - KEPT_SECONDS
    with contextlib.suppress(OSError):
        for path in folder.glob(f"*{suffix}"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
