"""The connectors' status files as ``smsgate admin connectors`` reads them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from smsgate.delivery.status import read_status, status_dir
from smsgate.process_files import LIVE_SECONDS

SESSION = {"bind": "transceiver", "state": "bound", "window_used": 7, "window": 10}


def write_status(data_dir: Path, pid: int, *, running: bool, age: float) -> None:
    folder = status_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    status: dict[str, Any] = {
        "pid": pid,
        "updated_at": time.time() - age,
        "running": running,
        "connectors": [{"name": "mts", "up": True, "sessions": [SESSION]}],
    }
    (folder / f"{pid}.json").write_bytes(orjson.dumps(status))


def test_a_live_process_shows_its_binds_as_they_are(tmp_path: Path) -> None:
    write_status(tmp_path, 101, running=True, age=0)
    status = read_status(tmp_path)
    assert status is not None and status["running"]
    assert status["connectors"] == [{"name": "mts", "up": True, "sessions": [SESSION], "pid": 101}]


def test_binds_of_processes_that_stopped_or_went_silent_are_shown_down(tmp_path: Path) -> None:
    write_status(tmp_path, 101, running=False, age=100)  # stopped, the latest status left
    write_status(tmp_path, 102, running=True, age=LIVE_SECONDS + 200)  # killed long ago
    status = read_status(tmp_path)
    assert status is not None and not status["running"]
    (connector,) = status["connectors"]
    assert connector["pid"] == 101 and not connector["up"]
    assert connector["sessions"] == [{**SESSION, "state": "stopped", "window_used": 0}]
