"""A process's own status file: a write that fails does not end the task that writes it (the
process's other background work runs beside it and stopped with it)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from smsgate.process_files import INTERVAL, own_file, publish


def test_publishing_goes_on_after_a_failed_write(tmp_path: Path) -> None:
    folder = tmp_path / "status"
    folder.write_bytes(b"")  # a file where the folder must be: every write fails

    async def scenario() -> None:
        task = asyncio.create_task(publish(folder, ".json", lambda running: b"%d" % running))
        await asyncio.sleep(0.1)
        assert not task.done()
        folder.unlink()  # writable again
        await asyncio.sleep(INTERVAL + 0.2)
        assert own_file(folder, ".json").read_bytes() == b"1"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert own_file(folder, ".json").read_bytes() == b"0"

    asyncio.run(scenario())


def test_a_process_file_is_named_by_more_than_the_pid(tmp_path: Path) -> None:
    """Pids recur: a container's process has the same one at each start, and two containers
    sharing a data folder may run it at once. Each would take the other's file."""
    name = own_file(tmp_path, ".json").name
    pid, _, rest = name.removesuffix(".json").partition("-")
    assert pid == str(os.getpid()) and len(rest) == 8
    assert own_file(tmp_path, ".json").name == name  # one name for the process's life
