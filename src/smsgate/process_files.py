"""Files that each process of a data folder writes about itself, for the others to read.

A process writes ``<folder>/<pid>-<random><suffix>`` whole every ``INTERVAL`` (a reader never
sees half of one), and once more as it stops. Not the pid alone: pids recur, and a container's
process has the same one at every start (two containers sharing a folder may have it at once).
A file not rewritten for ``LIVE_SECONDS`` is of a process that ended; one not rewritten for
``KEPT_SECONDS`` is retired (deleted, by default) by the next process that starts writing to the
folder. The connectors' status and the processes' counters are such files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
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


# (pid, name) of this process's files; made again in a forked child, which has another pid.
_own_name: tuple[int, str] | None = None


def own_file(folder: Path, suffix: str) -> Path:
    global _own_name
    pid = os.getpid()
    if _own_name is None or _own_name[0] != pid:
        _own_name = (pid, f"{pid}-{secrets.token_hex(4)}")
    return folder / f"{_own_name[1]}{suffix}"


def delete_files(files: Sequence[Path]) -> None:
    """Delete ``files``, those another process deleted first included."""
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def publish(
    folder: Path,
    suffix: str,
    render: Callable[[bool], bytes],
    retire: Callable[[Sequence[Path]], None] = delete_files,
) -> None:
    """Write ``render(True)`` to this process's file every ``INTERVAL`` until cancelled, then
    ``render(False)`` (the argument: whether the process still runs). First, the files not
    rewritten for ``KEPT_SECONDS`` go to ``retire``, which must delete them.

    A write that fails (a full disk, a folder made read-only) is logged and tried again at the
    next interval: the process's other work runs beside this task and must not stop with it.
    """
    path = own_file(folder, suffix)
    failing = False
    try:
        try:
            retire(_old_files(folder, suffix))
        except OSError as error:
            log.warning("cannot retire the old files of %s: %s", folder, error)
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


def _old_files(folder: Path, suffix: str) -> list[Path]:
    """The processes' files (``<pid>-<random>``, or ``<pid>`` as older releases named them)
    not rewritten for ``KEPT_SECONDS``."""
    own = re.compile(rf"\d+(-[0-9a-f]+)?{re.escape(suffix)}")
    cutoff = time.time() - KEPT_SECONDS
    old = []
    with contextlib.suppress(FileNotFoundError):
        for path in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if own.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                    old.append(path)
    return old
