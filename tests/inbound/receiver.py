"""A real HTTP receiver for pushes and callbacks: records every POST, answers as scripted."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.server import free_port

HANG_SECONDS = 60.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """Listens on ``port`` (a free one by default) until stopped; can be started again there.

    Each POST is answered with the next of ``statuses``, then 200, after ``delay`` seconds;
    with ``hang`` it is never answered (until the receiver stops), like a receiver that hangs.
    """

    def __init__(
        self,
        statuses: Iterable[int] = (),
        *,
        hang: bool = False,
        delay: float = 0.0,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.hang = hang
        self.delay = delay
        self.concurrent = 0
        self.most_concurrent = 0
        self.received: list[Received] = []
        self.hung = 0  # requests left hanging
        self._statuses = deque(statuses)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang:
                    with receiver._lock:
                        receiver.hung += 1
                    receiver._stopping.wait(HANG_SECONDS)
                    return
                with receiver._lock:
                    receiver.concurrent += 1
                    receiver.most_concurrent = max(receiver.most_concurrent, receiver.concurrent)
                time.sleep(receiver.delay)
                with receiver._lock:
                    status = receiver._statuses.popleft() if receiver._statuses else 200
                    receiver.received.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                        )
                    )
                    receiver.concurrent -= 1
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            # Down means down: close kept-alive connections too, not just the listener.
            with self._lock:
                for connection in self._connections:
                    with contextlib.suppress(OSError):  # the client closed it first
                        connection.shutdown(socket.SHUT_RDWR)

    def successes(self) -> list[Received]:
        with self._lock:
            return [request for request in self.received if 200 <= request.status < 300]

    def wait_for_successes(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.successes()
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} pushes arrived in {timeout}s")
            time.sleep(0.02)
