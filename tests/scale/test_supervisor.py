"""The supervisor's loop with a child of the test's own: a stopping signal that comes while
it waits to start a crashed child again stops it, instead of starting one that nothing will
ever signal (the supervisor then waited for it forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from smsgate.supervisor import RESTART_BACKOFF_SECONDS

REPOSITORY = Path(__file__).resolve().parents[2]
SUPERVISOR = """
import sys
from smsgate.supervisor import Child, supervise_children
from tests.scale.test_supervisor import crash_once_then_run
supervise_children([Child("flaky", crash_once_then_run, (sys.argv[1],))])
"""


def crash_once_then_run(marker: str) -> None:
    """Exits at its first start (its database down, say); runs until killed after that."""
    path = Path(marker)
    if not path.exists():
        path.write_text("crashed")
        sys.exit(1)
    path.write_text("started again")
    while True:
        time.sleep(0.1)


def test_a_signal_during_the_restart_pause_stops_the_supervisor(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(marker)], env=environment, cwd=REPOSITORY
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.02)
        time.sleep(RESTART_BACKOFF_SECONDS / 2)  # the child is gone; the pause goes on
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 0
        assert marker.read_text() == "crashed"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
