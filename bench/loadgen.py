"""A lean HTTP/1.1 keep-alive load generator for the benchmarks.

Each of ``concurrency`` connections sends one request, reads the whole response, and repeats
until the time is up. It parses only what it must (status, Content-Length), so on loopback it
outruns the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from bench.harness import cpu_seconds


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    # CPU the server process spent over the run, when it was watched.
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request_us(self) -> float:
        """Server CPU per answered request, in microseconds: steadier than req/s on a busy
        machine, where other jobs take turns on the cores."""
        return self.server_cpu / self.requests * 1e6 if self.requests else 0.0


def get_request(path: str, params: dict[str, str] | None = None) -> bytes:
    target = f"{path}?{urlencode(params)}" if params else path
    return f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def post_request(path: str, params: dict[str, str]) -> bytes:
    body = urlencode(params).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(
    host: str, port: int, make_request: Callable[[], bytes], deadline: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(make_request())
            status, _ = await _read_response(reader)
            result.requests += 1
            result.statuses[status] += 1
    finally:
        writer.close()


async def _run(
    host: str, port: int, make_request: Callable[[], bytes], concurrency: int, seconds: float
) -> LoadResult:
    result = LoadResult()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(_connection(host, port, make_request, deadline, result) for _ in range(concurrency))
    )
    result.seconds = time.perf_counter() - start
    return result


def run_load(
    port: int,
    make_request: Callable[[], bytes],
    *,
    concurrency: int = 32,
    seconds: float = 5.0,
    host: str = "127.0.0.1",
    server_pid: int | None = None,
) -> LoadResult:
    """Drive the server for ``seconds`` and count the answers (and, given its process id, the
    server's CPU time)."""
    try:
        import uvloop

        runner: Callable[..., LoadResult] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    cpu_before = cpu_seconds(server_pid) if server_pid is not None else 0.0
    result: LoadResult = runner(_run(host, port, make_request, concurrency, seconds))
    if server_pid is not None:
        result.server_cpu = cpu_seconds(server_pid) - cpu_before
    return result


async def request_once(port: int, request: bytes, host: str = "127.0.0.1") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        return await _read_response(reader)
    finally:
        writer.close()
