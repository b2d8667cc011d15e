"""Connections that would hold the server's memory or descriptors: a request head past its
size limit is refused, and a connection whose request does not come on is closed."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from smsgate.api.protocol import MAX_HEAD_BYTES, MIN_BODY_BYTES_PER_SECOND, guarded_http
from tests.api.conftest import deploy, undeploy
from tests.api.helpers import Deployment
from tests.databases import Databases
from tests.hardening.helpers import FORM, connect, read_response, request_head

# The server's head and stall timeouts; a connection is closed at most twice that late.
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def guarded(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a server with short request timeouts."""
    deployment: Deployment = deploy(
        databases,
        tmp_path_factory.mktemp("guarded"),
        dispatch="false",
        request_head_timeout_seconds=str(TIMEOUT),
        request_stall_timeout_seconds=str(TIMEOUT),
    )
    yield deployment.process.port
    undeploy(deployment)


def seconds_until_closed(sock: socket.socket, limit: float = 10.0) -> float:
    """How long until the server closes ``sock``, reading and dropping what it sends."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def seconds_until_closed_sending(sock: socket.socket, data: bytes) -> float:
    """How long until the server closes ``sock`` while ``data`` is sent to it four times a
    timeout: once closed, a send fails."""
    started = time.monotonic()
    with pytest.raises(OSError):
        while time.monotonic() - started < 3 * TIMEOUT + 5:
            sock.sendall(data)
            time.sleep(TIMEOUT / 4)
    return time.monotonic() - started


def status_of(port: int, request: bytes) -> int | None:
    """The status answering ``request``, or None when the server cut the connection first."""
    with connect(port) as sock:
        try:
            sock.sendall(request)
            return read_response(sock).status
        except (ConnectionResetError, BrokenPipeError, AssertionError):
            return None


def test_a_head_past_its_limit_is_refused_and_one_within_it_is_served(guarded: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
    line = b"X-Pad: " + b"a" * 4089 + b"\r\n"  # 4 KiB
    with connect(guarded) as sock:
        started = time.monotonic()
        sock.sendall(head)
        for _ in range(MAX_HEAD_BYTES // len(line) + 1):  # just past the limit, then nothing
            sock.sendall(line)
        # The refusal, at once: without the limit the head timeout would close it unanswered.
        refusal = read_response(sock)
        assert time.monotonic() - started < TIMEOUT
        assert refusal.status == 400 and refusal.json() == {
            "Code": 2,
            "Desc": f"Request head over {MAX_HEAD_BYTES} bytes",
        }
    # A URL as long as httptools takes (64 KiB), and more headers beside it: served.
    url = b"/healthz?x=" + b"1" * (65_535 - len(b"/healthz?x="))
    padding = b"X-Pad: " + b"a" * 32_768 + b"\r\n"
    request = b"GET " + url + b" HTTP/1.1\r\nHost: t\r\n" + padding + b"\r\n"
    assert status_of(guarded, request) == 200
    # One byte longer, or a request that cannot be read at all: the API's error body too.
    for unreadable in (request.replace(b"?x=", b"?x=1"), b"GET / HTTP/1.1\r\nHost t\r\n\r\n"):
        with connect(guarded) as sock:
            sock.sendall(unreadable)
            refusal = read_response(sock)
        assert refusal.status == 400, unreadable[:40]
        assert refusal.json() == {"Code": 2, "Desc": "Invalid HTTP request received."}
        assert refusal.headers["content-type"] == "application/json; charset=utf-8"


def test_a_connection_that_sends_nothing_is_closed(guarded: int) -> None:
    with connect(guarded) as sock:
        assert TIMEOUT * 0.9 < seconds_until_closed(sock) < 2 * TIMEOUT + 2


def test_a_head_trickled_byte_by_byte_is_closed_though_bytes_keep_coming(guarded: int) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert seconds_until_closed_sending(sock, b"X: y\r\n") < 2 * TIMEOUT + 2


def test_a_stalled_body_is_closed_and_a_slow_one_that_goes_on_is_answered(guarded: int) -> None:
    with connect(guarded) as sock:
        sock.sendall(request_head("/rest/Balance/", FORM, 100) + b"login=x&p")
        assert TIMEOUT * 0.9 < seconds_until_closed(sock) < 2 * TIMEOUT + 2
    piece = MIN_BODY_BYTES_PER_SECOND  # a piece a second at most: above the slowest rate
    body = b"login=nobody&password=" + b"x" * (4 * piece - 22)
    with connect(guarded) as sock:
        sock.sendall(request_head("/rest/Session/", FORM, len(body)))
        for start in range(0, len(body), piece):  # longer in all than either timeout
            time.sleep(TIMEOUT * 0.6)
            sock.sendall(body[start : start + piece])
        assert read_response(sock).json() == {
            "Code": 4,
            "Desc": "Invalid login or password",
        }


def test_a_body_trickled_slower_than_the_slowest_rate_is_closed_though_bytes_keep_coming(
    guarded: int,
) -> None:
    """A byte every minute, each under the stall timeout, kept a connection for good."""
    with connect(guarded) as sock:
        sock.sendall(request_head("/rest/Balance/", FORM, 1_000_000))
        assert seconds_until_closed_sending(sock, b"x") < 2 * TIMEOUT + 2


def test_trailer_fields_without_end_close_the_connection(guarded: int) -> None:
    """After a chunked body's last chunk, trailer fields: uvicorn keeps them like headers, and
    each pushed the stall deadline on (480 MB of them took 560 MB of memory)."""
    head = (
        b"POST /rest/Balance/ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: " + FORM.encode() + b"\r\n\r\n"
    )
    field = b"X-T: " + b"a" * 4089 + b"\r\n"  # 4 KiB
    with connect(guarded) as sock:
        sock.sendall(head + b"3\r\na=b\r\n0\r\n")
        with pytest.raises(OSError):  # once closed, a send fails
            for _ in range(64 * 1024 // 4):  # up to 64 MiB of them
                sock.sendall(field)


def test_a_blank_line_after_an_answer_does_not_keep_the_connection_for_good(guarded: int) -> None:
    """httptools starts no request for a blank line between requests, and uvicorn's keep-alive
    timer stops at any byte: the connection owes a request head in the head timeout."""
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).status == 200
        sock.sendall(b"\r\n")
        assert seconds_until_closed(sock) < 2 * TIMEOUT + 2
    with connect(guarded) as sock:  # nor do blank lines that keep coming
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).status == 200
        assert seconds_until_closed_sending(sock, b"\r\n") < 2 * TIMEOUT + 2


def test_a_websocket_upgrade_is_answered_as_plain_http(guarded: int) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    assert status_of(guarded, request) == 200


def h2c_offer(path: str, body: bytes) -> bytes:
    """A POST offering an upgrade to HTTP/2, as Java's HttpClient and ``curl --http2`` send
    one over plain HTTP."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("body_later", [False, True], ids=["with its head", "after its head"])
def test_a_post_offering_h2c_is_served_with_its_body_and_the_next_request_too(
    guarded: int, body_later: bool
) -> None:
    # llhttp ended the request with its head and left the body to the protocol upgraded to:
    # the app read no sessionId (Code 1), then the body was read as a request (Code 2).
    body = b"sessionId=" + b"f" * 32
    with connect(guarded) as sock:
        sock.sendall(h2c_offer("/rest/Balance/", body))
        if body_later:
            time.sleep(0.2)
        sock.sendall(body + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        balance, health = statuses_and_bodies(sock, 2)
    assert balance[0] == 400 and json.loads(balance[1])["Code"] == 3  # the session id was read
    assert health[0] == 200


def statuses_and_bodies(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """The next ``count`` answers on ``sock`` (pipelined answers may share a read)."""
    data = b""
    answers: list[tuple[int, bytes]] = []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1")
            length = int(head.lower().partition("content-length:")[2].split("\r\n")[0])
            if len(data) >= head_end + 4 + length:
                answers.append((int(head.split()[1]), data[head_end + 4 : head_end + 4 + length]))
                data = data[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(answers)} answers: {data!r}"
        data += chunk
    return answers


class Wire:
    """A connection's transport in memory: what the protocol wrote, whether it closed."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str) -> object:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def body_length(scope: Any, receive: Any, send: Any) -> None:
    """An app answering with the length of the body it read."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_a_read_ending_one_body_and_beginning_a_head_counts_only_the_head() -> None:
    # One read of 256 KB can end a large body and begin the next request's head: the whole
    # read counted as head, the next request was refused "Request head over 131072 bytes"
    # before the first one's answer (a send committed, answered Code 2).
    async def exchange() -> Wire:
        protocol_class = guarded_http(30, 30, 1 << 20)
        config = Config(app=body_length, http=protocol_class, access_log=False, log_config=None)
        config.load()
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
        wire = Wire()
        protocol.connection_made(wire)  # type: ignore[arg-type]
        body = b"a" * (MAX_HEAD_BYTES + 1000)
        protocol.data_received(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        await asyncio.sleep(0.01)
        protocol.data_received(body + b"GET / HTTP/1.1\r\n")
        protocol.data_received(b"Host: t\r\n\r\n")
        await asyncio.sleep(0.05)
        assert not wire.closed
        protocol.connection_lost(None)
        return wire

    wire = asyncio.run(exchange())
    assert wire.written.count(b"HTTP/1.1 200 OK") == 2, wire.written
    assert f"\r\n{MAX_HEAD_BYTES + 1000}\r\n".encode() in wire.written
