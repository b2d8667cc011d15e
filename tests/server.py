"""A real ``smsgate serve`` process on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

# httpx makes an SSL context for each client unless given one, reading the system's
# certificates again: 37 ms of CPU a client. The tests make thousands of clients, and a
# readiness poll made one every 50 ms beside the server it waited for, so they share this one.
SHARED_TLS = ssl.create_default_context()


def http_client(base_url: str = "", **options: Any) -> httpx.Client:
    """An HTTP client of the tests (30 s timeout unless given), on the shared SSL context."""
    options.setdefault("timeout", 30)
    options.setdefault("verify", SHARED_TLS)
    return httpx.Client(base_url=base_url, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """Starts, stops and kills one server; its output goes to ``log_path``."""

    def __init__(self, database_url: str, workdir: Path, **settings: str) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.settings = settings
        self.log_path = workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The tests start a hundred servers: each would compile smsgate's modules again.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            {
                "SMSGATE_DATABASE_URL": self.database_url,
                "SMSGATE_PORT": str(self.port),
                "SMSGATE_HOST": "127.0.0.1",
                "SMSGATE_CACHE_REFRESH_SECONDS": "0.1",
                # Every test client is 127.0.0.1 and many tests fail logins on purpose: one
                # address lockout would fail the rest of a shared server's tests. The lockout
                # has its own tests, with their own settings.
                "SMSGATE_LOGIN_FAILURES_PER_ADDRESS": "1000000",
                # The tests' receivers listen on 127.0.0.1.
                "SMSGATE_PUSH_PRIVATE_ADDRESSES": "true",
                # A stop waits this long for the reports of sent parts, and many tests leave
                # parts that never get one (numbers ending 9999): the graceful shutdown's tests
                # set their own.
                "SMSGATE_REPORT_GRACE_SECONDS": "1",
            }
        )
        env.update({f"SMSGATE_{name.upper()}": value for name, value in self.settings.items()})
        return env

    def start(self, *args: str) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smsgate", "serve", *args],
            cwd=self.workdir,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with http_client(self.url, timeout=1) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is not None:
            stop_process(self.process, sig, timeout)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def stop_process(
    process: subprocess.Popen[bytes], sig: signal.Signals, timeout: float = 20.0
) -> int:
    """Signal ``process`` unless it ended, wait for it (killing it after ``timeout``); its
    exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
