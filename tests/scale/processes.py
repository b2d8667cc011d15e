"""``smsgate worker`` processes for tests, beside the servers of ``tests.server``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
from sqlalchemy import Connection, select

from smsgate.store.schema import leases
from tests.server import ServerProcess, stop_process


def lease_holders(connection: Connection) -> dict[str, tuple[str, datetime]]:
    """Every lease: name -> (holder, expires_at)."""
    rows = connection.execute(select(leases.c.name, leases.c.holder, leases.c.expires_at))
    return {name: (holder, expires_at) for name, holder, expires_at in rows}


class WorkerProcess:
    """One ``smsgate worker`` on a database; its output goes to ``log_path``."""

    def __init__(self, database_url: str, workdir: Path, name: str, **settings: str) -> None:
        # The same environment a server of these settings gets.
        self.environment = ServerProcess(database_url, workdir, **settings).environment()
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        return self.launch().wait_started()

    def launch(self) -> WorkerProcess:
        """Start the process without waiting for it (see ``wait_started``)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "smsgate", "worker"],
                cwd=self.workdir,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_started(self, timeout: float = 30.0) -> WorkerProcess:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while "delivering" not in self.log_path.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Signal the worker and wait for it; its exit status."""
        if self.process is None:
            return None
        status = stop_process(self.process, sig, timeout)
        self.process = None
        return status

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def spawned_children(pid: int) -> list[psutil.Process]:
    """The live processes a supervisor spawned (not multiprocessing's resource tracker)."""
    spawned = []
    for child in psutil.Process(pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                spawned.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # died, not yet reaped
    return spawned
