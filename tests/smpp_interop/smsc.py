"""Driving the node-smpp SMSC (``node/smsc.js``) from tests and the benchmark."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "smsc.js"
SYSTEM_ID = "smsgate"
PASSWORD = "secret"

Event = dict[str, Any]


def node_ready() -> str | None:
    """Why the node SMSC cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "smpp").is_dir():
        return f"node-smpp is not installed: make smpp-interop-deps ({NODE_DIR})"
    return None


class NodeSmsc:
    """One ``node smsc.js`` process; its events are collected as they come."""

    def __init__(self, *, port: int = 0, **options: object) -> None:
        self.port = port
        self.options = options
        self.process: subprocess.Popen[str] | None = None
        self.events: list[Event] = []
        self._arrivals: queue.Queue[Event] = queue.Queue()
        self._reader: threading.Thread | None = None

    def arguments(self) -> list[str]:
        args = ["--port", str(self.port)]
        for name, value in self.options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value not in (None, False):
                args += [flag, str(value)]
        return args

    def start(self) -> NodeSmsc:
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), *self.arguments()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        listening = self.wait_event(lambda e: e["event"] == "listening")
        self.port = int(listening["port"])
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            self.events.append(event)
            self._arrivals.put(event)

    def send(self, op: str, **fields: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()

    def wait_event(self, matches: Callable[[Event], bool], timeout: float = 30.0) -> Event:
        """The next event (from now on) that ``matches``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event in {timeout}s; last: {self.events[-5:]}")
            try:
                event = self._arrivals.get(timeout=remaining)
            except queue.Empty:
                continue
            if matches(event):
                return event

    def stats(self) -> Event:
        self.send("stats")
        return self.wait_event(lambda e: e["event"] == "stats")

    def messages(self) -> list[Event]:
        """Every message the SMSC took before this call. Its events come on a pipe, slower than
        its answers on the socket (5 of 30 messages were still in it once all were answered):
        the answer to ``stats``, written after them, says they have all been read."""
        self.stats()
        return [event for event in self.events if event["event"] == "message"]

    def inject(self, id: str, **fields: object) -> Event:
        """Deliver an incoming message; returns its ``mo_done`` (the statuses of its parts)."""
        self.send("mo", id=id, **fields)
        return self.wait_event(lambda e: e["event"] == "mo_done" and e["id"] == id)

    def kill(self) -> None:
        """Die at once, like a crashed SMSC: nothing is answered or closed cleanly."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def restart(self) -> NodeSmsc:
        """The same SMSC again on the same port (with its journal, if it has one)."""
        self.kill()
        self._arrivals = queue.Queue()
        return self.start()

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the script exits when its input ends
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None
