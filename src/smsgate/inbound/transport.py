"""A lean HTTP/1.1 transport under ``httpx.AsyncClient`` for the pusher's small POSTs.

httpx's own transport (httpcore over anyio) spends ~0.5-1 ms of CPU per request here, more
than routing and storing an incoming message, and under the GIL that caps the pushes of a
whole server. This one writes each request in one piece on a kept-alive asyncio connection
and reads the answer with the stream reader: a tenth of the cost. The client above it still
builds requests, merges headers and applies the timeouts (which arrive here per request).

Receivers answer pushes with a status; bodies are read to keep the connection usable, up to
``MAX_BODY``, and dropped. A request that fails on a kept-alive connection before any answer
(the receiver closed it meanwhile) is sent once more on a new connection.

Clients name the receivers (``callback_url``): their host names are resolved on threads of the
transport's own, so that a name server that never answers holds up pushes only, not the
process's default executor (password checks, report files); and unless private addresses are
allowed, a receiver must resolve to a public address: a client cannot make the gateway post
to its loopback, its private network or a cloud's metadata service.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import httpx

from smsgate.bounded import keep_newest
from smsgate.domain.digits import MAX_ID_DIGITS, is_ascii_number
from smsgate.domain.urls import is_public_address

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
# Connections kept for the next push: per receiver, in all, and for how long. Each holds a
# file descriptor, and a client names the receivers (its callback URLs).
MAX_IDLE_PER_ORIGIN = 64
MAX_IDLE = 256
IDLE_SECONDS = 30.0
# Host names are resolved on threads of their own (getaddrinfo cannot be cancelled: a name
# server that never answers holds its thread for the resolver's whole timeout, long after the
# push that asked gave up), one look-up per name at a time, and at most a quarter of the threads
# for the names of one account (the request's ``LOOKUP_OWNER`` extension): a client naming
# ever new hosts whose name server never answers cannot hold them all. A name resolved is kept
# a while, so a receiver pushed to again needs no look-up behind them.
RESOLVER_THREADS = 32
LOOKUPS_PER_OWNER = RESOLVER_THREADS // 4
LOOKUP_OWNER = "smsgate_lookup_owner"
RESOLVED_SECONDS = 60.0
UNRESOLVED_SECONDS = 10.0
MAX_RESOLVED = 1024
_NO_BODY = frozenset({204, 304})
# A chunk's size: hex digits only (int() would also take a sign, spaces and underscores).
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


Origin = tuple[str, str, int]


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    reusable: bool


class _Stale(Exception):
    """A kept-alive connection the receiver had closed: nothing of the answer arrived."""


def _timeout(request: httpx.Request, kind: str) -> float | None:
    timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeouts.get(kind)


class PushTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over kept-alive asyncio connections, http and https; to receivers at
    public addresses only, unless ``private_addresses``."""

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, *, private_addresses: bool = False
    ) -> None:
        self._ssl = ssl_context or ssl.create_default_context()
        self._private_addresses = private_addresses
        self._resolver = ThreadPoolExecutor(
            max_workers=RESOLVER_THREADS, thread_name_prefix="smsgate-push-resolver"
        )
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._next_sweep = 0.0
        # (host, port) -> (until when, its addresses or why it has none), the newest last.
        self._resolved: dict[tuple[str, int], tuple[float, list[str] | str]] = {}
        self._resolving: dict[tuple[str, int], asyncio.Future[list[str] | str]] = {}
        # Look-ups still running (their threads taken), by whose names they are.
        self._lookups_of: Counter[object] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"not an http or https URL: {url}", request=request)
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        message = _request_bytes(request, await request.aread())
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                return await self._exchange(request, origin, connection, message)
            except _Stale:
                pass
        connection = await self._connect(request, origin)
        try:
            return await self._exchange(request, origin, connection, message)
        except _Stale:
            raise httpx.RemoteProtocolError(
                "the receiver closed the connection without answering", request=request
            ) from None

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
        for lookup in list(self._resolving.values()):
            lookup.cancel()
        self._resolver.shutdown(wait=False, cancel_futures=True)

    @property
    def idle_connections(self) -> int:
        return self._idle_count

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not idle:
                del self._idle[origin]
            if _usable(connection, time.monotonic()):
                connection.reused = True
                return connection
            connection.close()
            idle = self._idle.get(origin)
        return None

    def _keep(self, origin: Origin, connection: _Connection) -> None:
        """Keep ``connection`` for the next push to ``origin``, within the bounds."""
        now = time.monotonic()
        self._close_unusable(now)
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN or self._idle_count >= MAX_IDLE:
            connection.close()
            return
        connection.idle_since = now
        idle.append(connection)
        self._idle_count += 1

    def _close_unusable(self, now: float) -> None:
        """Close the kept connections idle too long or closed by their receiver (once a
        second at most: a push is cheaper than a look at every kept connection)."""
        if now < self._next_sweep and self._idle_count < MAX_IDLE:
            return
        self._next_sweep = now + 1.0
        for origin in list(self._idle):
            kept = []
            for connection in self._idle[origin]:
                if _usable(connection, now):
                    kept.append(connection)
                else:
                    connection.close()
            self._idle_count -= len(self._idle[origin]) - len(kept)
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]

    async def _connect(self, request: httpx.Request, origin: Origin) -> _Connection:
        scheme, host, port = origin
        tls = self._ssl if scheme == "https" else None
        try:
            async with asyncio.timeout(_timeout(request, "connect")):
                addresses = await self._addresses(request, host, port)
                error: OSError | None = None
                for address in addresses:
                    try:
                        reader, writer = await asyncio.open_connection(
                            address,
                            port,
                            limit=MAX_HEAD,
                            ssl=tls,
                            server_hostname=host if tls else None,
                        )
                    except OSError as failed:
                        error = failed
                    else:
                        return _Connection(reader, writer)
                raise error or OSError(f"{host} has no address")
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port}", request=request) from None
        except OSError as error:
            raise httpx.ConnectError(str(error), request=request) from None

    async def _addresses(self, request: httpx.Request, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to that pushes may go to."""
        key = (host, port)
        kept = self._resolved.get(key)
        if kept is not None and time.monotonic() < kept[0]:
            found = kept[1]
        else:
            # One look-up of a name at a time, whoever waits for it: pushes to a name whose
            # server never answers wait on the one thread it holds, and take no more.
            lookup = self._resolving.get(key)
            if lookup is None:
                owner = request.extensions.get(LOOKUP_OWNER)
                if owner is not None and self._lookups_of[owner] >= LOOKUPS_PER_OWNER:
                    raise OSError(f"{host}: {LOOKUPS_PER_OWNER} look-ups of its names still wait")
                self._lookups_of[owner] += 1
                lookup = asyncio.ensure_future(self._look_up(host, port))
                self._resolving[key] = lookup
                lookup.add_done_callback(partial(self._looked_up, key, owner))
            found = await asyncio.shield(lookup)
        if isinstance(found, str):  # a name that did not resolve, a short while ago
            raise OSError(found)
        allowed = [a for a in found if self._private_addresses or is_public_address(a)]
        if not allowed:
            raise httpx.ConnectError(
                f"{host} resolves to no public address ({', '.join(found[:3])})",
                request=request,
            )
        return allowed

    async def _look_up(self, host: str, port: int) -> list[str] | str:
        """The addresses of ``host``, or why it has none."""
        resolve = partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            found = await asyncio.get_running_loop().run_in_executor(self._resolver, resolve)
        except OSError as error:
            return f"{host}: {error}"
        return list(dict.fromkeys(str(info[4][0]) for info in found))

    def _looked_up(
        self, key: tuple[str, int], owner: object, lookup: asyncio.Future[list[str] | str]
    ) -> None:
        del self._resolving[key]
        self._lookups_of[owner] -= 1
        if not self._lookups_of[owner]:
            del self._lookups_of[owner]
        if lookup.cancelled() or lookup.exception() is not None:
            return
        found = lookup.result()
        # A name that did not resolve is not asked again for a while either.
        kept_for = RESOLVED_SECONDS if isinstance(found, list) else UNRESOLVED_SECONDS
        keep_newest(self._resolved, key, (time.monotonic() + kept_for, found), MAX_RESOLVED)

    async def _exchange(
        self, request: httpx.Request, origin: Origin, connection: _Connection, message: bytes
    ) -> httpx.Response:
        try:
            answer = await self._send(request, connection, message)
        except BaseException:
            connection.close()
            raise
        if answer.reusable:
            self._keep(origin, connection)
        else:
            connection.close()
        return httpx.Response(
            answer.status, headers=answer.headers, extensions={"http_version": b"HTTP/1.1"}
        )

    async def _send(
        self, request: httpx.Request, connection: _Connection, message: bytes
    ) -> _Answer:
        writer = connection.writer
        try:
            writer.write(message)
            async with asyncio.timeout(_timeout(request, "write")):
                await writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("sending the request", request=request) from None
        except OSError as error:
            if connection.reused:
                raise _Stale from error
            raise httpx.WriteError(str(error), request=request) from None
        read_timeout = _timeout(request, "read")
        status, version, headers = await self._read_head(request, connection, read_timeout)
        while status < 200:  # an interim answer (1xx): the answer follows
            status, version, headers = await self._read_head(request, connection, read_timeout)
        fields = {name.lower(): value for name, value in headers}
        try:
            async with asyncio.timeout(read_timeout):
                framed = await _drain_body(request, connection.reader, status, fields)
        except TimeoutError:
            raise httpx.ReadTimeout("reading the answer", request=request) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            raise httpx.ReadError("the answer ended early", request=request) from None
        keep_alive = fields.get(b"connection", b"").lower() != b"close"
        return _Answer(status, headers, framed and version == b"HTTP/1.1" and keep_alive)

    async def _read_head(
        self, request: httpx.Request, connection: _Connection, read_timeout: float | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        try:
            async with asyncio.timeout(read_timeout):
                head = await connection.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if connection.reused and not error.partial:
                raise _Stale from error
            raise httpx.RemoteProtocolError("the answer ended early", request=request) from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError(
                "the answer's head is too long", request=request
            ) from None
        except TimeoutError:
            raise httpx.ReadTimeout("waiting for the answer", request=request) from None
        except OSError as error:
            if connection.reused:
                raise _Stale from error
            raise httpx.ReadError(str(error), request=request) from None
        return _parse_head(request, head)


def _usable(connection: _Connection, now: float) -> bool:
    return (
        now - connection.idle_since < IDLE_SECONDS
        and not connection.reader.at_eof()
        and not connection.writer.is_closing()
    )


def _request_bytes(request: httpx.Request, body: bytes) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _parse_head(
    request: httpx.Request, head: bytes
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    status_line, *lines = head[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"not an HTTP answer: {status_line!r}", request=request)
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise httpx.RemoteProtocolError(f"bad header line: {line!r}", request=request)
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), parts[0], headers


async def _drain_body(
    request: httpx.Request, reader: asyncio.StreamReader, status: int, fields: dict[bytes, bytes]
) -> bool:
    """Read the body to its end; whether that end was framed, so the connection can be kept.

    A body too long, or delimited by the end of the connection, is left unread: the
    connection is closed anyway.
    """
    if status in _NO_BODY or request.method == "HEAD":
        return True
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        # Every octet counts, size lines and trailers too: a receiver could otherwise keep
        # the read going for its whole timeout (endless "-2" sizes, endless trailers).
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            digits = size_line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(digits):
                raise httpx.RemoteProtocolError("bad chunk size", request=request)
            size = int(digits, 16)
            total += len(size_line) + size
            if total > MAX_BODY:
                return False
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    total += len(trailer)
                    if total > MAX_BODY:
                        return False
                return True
            await reader.readexactly(size + 2)
    length = fields.get(b"content-length")
    if length is None or not is_ascii_number(length, MAX_ID_DIGITS) or int(length) > MAX_BODY:
        return False
    await reader.readexactly(int(length))
    return True
