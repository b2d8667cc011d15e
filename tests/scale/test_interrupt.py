"""Ctrl-C at a terminal reaches every process of ``serve --workers N``: the supervisor passes
it on as SIGTERM, and the children take no other, so the stop stays graceful (a child that
acted on both took the second for a forced stop and dropped the requests in flight)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.api.helpers import wait_for
from tests.hardening.helpers import FORM, accepted, read_response, request_head
from tests.scale.test_processes import FAST
from tests.server import ServerProcess, stop_process


def test_ctrl_c_to_the_process_group_stops_gracefully(database_url: str, tmp_path: Path) -> None:
    # A session of its own, as a terminal's foreground job: Ctrl-C goes to its group.
    server, process = started(database_url, tmp_path, "--workers", "2", start_new_session=True)
    try:
        server.wait_ready()
        # Every child up, its handlers in place (one just started dies of SIGTERM at once).
        wait_for(lambda: _ready(server.log_path.read_text()), timeout=30)
        body = b"login=nobody&password=wrong"
        with accepted(server.port) as sock:
            sock.sendall(request_head("/rest/Balance/", FORM, len(body)) + body[:5])
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(1)
            sock.sendall(body[5:])
            in_flight = read_response(sock)  # answered: the stop was not forced
        assert in_flight.status == 400  # any answer: no login given
        assert process.wait(30) == 0
    finally:
        stop_process(process, signal.SIGKILL)
        server.process = None
    # The worker's stop was graceful too.
    assert "the dispatcher finished its work in flight" in server.log_path.read_text()


def started(
    database_url: str, tmp_path: Path, *args: str, **popen: Any
) -> tuple[ServerProcess, subprocess.Popen[bytes]]:
    """``smsgate serve *args`` started as ``popen`` says (the test stops it)."""
    server = ServerProcess(database_url, tmp_path, **FAST)
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(
            [sys.executable, "-m", "smsgate", "serve", *args],
            cwd=tmp_path,
            env=server.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            **popen,
        )
    return server, server.process


def _ready(log: str) -> bool:
    return log.count("Application startup complete.") == 2 and " delivering" in log


def test_a_lone_server_started_in_the_background_still_stops_on_sigint(
    database_url: str, tmp_path: Path
) -> None:
    # A shell starts a background job with SIGINT ignored (`smsgate serve &`): only the
    # supervisor's children leave SIGINT to their parent, a lone server still acts on it.
    server, process = started(
        database_url,
        tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        server.wait_ready()
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        stop_process(process, signal.SIGKILL)
        server.process = None
