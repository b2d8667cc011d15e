"""The pusher's HTTP/1.1 transport against real sockets: framing, keep-alive, errors, TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
import pytest

from smsgate.inbound import transport
from smsgate.inbound.transport import PushTransport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TIMEOUTS = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}

Answer = Callable[[int], bytes | None]  # request number -> bytes to answer, None: close


class Server:
    """Answers each request (head and Content-Length body) as ``answer`` says."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                reply = self.answer(len(self.requests))
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def post(transport: PushTransport, url: str, body: bytes = b'{"ID":1}') -> httpx.Response:
    request = httpx.Request("POST", url, content=body, extensions=TIMEOUTS)
    return await transport.handle_async_request(request)


def serve(
    answer: Answer,
    test: Callable[[Server, str, PushTransport], Awaitable[None]],
    *,
    server_tls: ssl.SSLContext | None = None,
    client_tls: ssl.SSLContext | None = None,
) -> Server:
    server = Server(answer)

    async def main() -> None:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
        port = listening.sockets[0].getsockname()[1]
        scheme = "https" if server_tls else "http"
        transport = PushTransport(client_tls, private_addresses=True)
        try:
            await test(server, f"{scheme}://localhost:{port}/hook?a=1", transport)
        finally:
            await transport.aclose()
            listening.close()

    asyncio.run(main())
    return server


def always(reply: bytes) -> Answer:
    return lambda n: reply


def statuses(count: int) -> Callable[[Server, str, PushTransport], Awaitable[None]]:
    async def test(server: Server, url: str, transport: PushTransport) -> None:
        for _ in range(count):
            assert (await post(transport, url)).status_code == 200

    return test


def test_requests_share_a_kept_alive_connection() -> None:
    server = serve(always(OK), statuses(3))
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook?a=1 HTTP/1.1\r\n")
    assert b"\r\nHost: localhost:" in first
    assert first.endswith(b'\r\n\r\n{"ID":1}')


def test_a_chunked_answer_is_read_to_its_end() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nsome\r\n6\r\n thing\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    assert serve(always(chunked), statuses(3)).connections == 1


def test_a_chunked_answer_that_would_go_on_for_ever_is_cut_short() -> None:
    # "-2" is no chunk size (int() took it, and each lowered the count of octets read); and
    # trailers past the body's limit are not read to their end.
    negative = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"-2\r\n" * 100_000
    trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    trailers += b"X-Trailer: 1\r\n" * (transport.MAX_BODY // 10)

    async def refused(server: Server, url: str, push: PushTransport) -> None:
        with pytest.raises(httpx.RemoteProtocolError, match="bad chunk size"):
            await post(push, url)

    serve(always(negative), refused)
    assert serve(always(trailers), statuses(2)).connections == 2  # answered, not kept


def test_an_answer_without_length_or_with_close_is_not_kept() -> None:
    unframed = b"HTTP/1.1 200 OK\r\n\r\nbody until the end"
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    for answer in (unframed, closing, old):
        assert serve(always(answer), statuses(2)).connections == 2


def test_interim_answers_are_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"

    async def test(server: Server, url: str, transport: PushTransport) -> None:
        assert (await post(transport, url)).status_code == 201

    serve(always(answer), test)


def test_a_connection_the_receiver_closed_is_replaced() -> None:
    # The receiver drops the kept-alive connection on the second request without answering.
    async def test(server: Server, url: str, transport: PushTransport) -> None:
        for _ in range(3):
            assert (await post(transport, url)).status_code == 200

    server = serve(lambda n: None if n == 2 else OK, test)
    assert server.connections == 2
    assert len(server.requests) == 4  # the dropped one was sent again


def test_failures_are_httpx_errors() -> None:
    async def test(server: Server, url: str, transport: PushTransport) -> None:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(transport, url)
        with pytest.raises(httpx.RemoteProtocolError):
            await post(transport, url)
        with pytest.raises(httpx.UnsupportedProtocol):
            await post(transport, "ftp://localhost/x")

    answers: Sequence[bytes | None] = [b"garbage\r\n\r\n", None]
    serve(lambda n: answers[n - 1], test)


def test_a_refused_connection_is_a_connect_error() -> None:
    async def test(server: Server, url: str, transport: PushTransport) -> None:
        with pytest.raises(httpx.ConnectError):
            await post(transport, "http://127.0.0.1:1/hook")

    serve(always(OK), test)


def test_a_silent_receiver_is_a_read_timeout() -> None:
    async def test(server: Server, url: str, transport: PushTransport) -> None:
        request = httpx.Request(
            "POST", url, content=b"{}", extensions={"timeout": {"connect": 2.0, "read": 0.2}}
        )
        with pytest.raises(httpx.ReadTimeout):
            await transport.handle_async_request(request)

    serve(always(b""), test)  # answers nothing, keeps the connection open


def test_https(tmp_path: Path) -> None:
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certificate, key)
    trusting = ssl.create_default_context(cafile=str(certificate))
    server = serve(always(OK), statuses(2), server_tls=server_tls, client_tls=trusting)
    assert server.connections == 1

    async def untrusted(server: Server, url: str, transport: PushTransport) -> None:
        with pytest.raises(httpx.ConnectError):
            await post(transport, url)

    serve(always(OK), untrusted, server_tls=server_tls)


def test_kept_connections_are_bounded_in_number_and_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each kept connection holds a file descriptor, and clients name the receivers: pushes to
    # many of them must not keep a connection to each for the life of the process.
    monkeypatch.setattr(transport, "MAX_IDLE", 4)

    async def main() -> int:
        servers = [Server(always(OK)) for _ in range(7)]
        listening = [await asyncio.start_server(s.handle, "127.0.0.1", 0) for s in servers]
        urls = [f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/" for server in listening]
        pusher = PushTransport(private_addresses=True)
        try:
            for url in urls[:6]:
                assert (await post(pusher, url)).status_code == 200
            assert pusher.idle_connections == 4
            monkeypatch.setattr(transport, "IDLE_SECONDS", 0.05)
            await asyncio.sleep(0.1)  # past the idle time: the next push closes them
            assert (await post(pusher, urls[6])).status_code == 200
            return pusher.idle_connections
        finally:
            await pusher.aclose()
            for server in listening:
                server.close()

    assert asyncio.run(main()) == 1


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "169.254.169.254",
        # IPv6 addresses Python takes for global that lead to private IPv4 ones or stay local:
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[64:ff9b:1::1]",  # a network's own NAT64
        "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
        "[::a00:1]",  # IPv4-compatible 10.0.0.1
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped 169.254.169.254
        "[fec0::1]",  # site-local
    ],
)
def test_a_receiver_on_a_private_address_is_refused_unless_allowed(host: str) -> None:
    # A client's callback_url must not reach the gateway's own network.
    async def main() -> str:
        pusher = PushTransport(private_addresses=False)
        try:
            with pytest.raises(httpx.ConnectError) as refused:
                await post(pusher, f"http://{host}:9/hook")
            return str(refused.value)
        finally:
            await pusher.aclose()

    assert "resolves to no public address" in asyncio.run(main())


def test_a_slow_name_server_holds_up_pushes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default executor runs password checks and report files: lookups of names that
    # clients chose must not fill it.
    resolve = socket.getaddrinfo

    def slow_for_one_name(host: str, *args: object, **kwargs: object) -> object:
        if host == "slow.example":
            time.sleep(1.5)
        return resolve(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow_for_one_name)

    async def main() -> float:
        pusher = PushTransport(private_addresses=True)
        try:
            lookups = [
                asyncio.ensure_future(post(pusher, "http://slow.example/hook", b"{}"))
                for _ in range(12)
            ]
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await asyncio.to_thread(lambda: None)  # on the default executor
            waited = time.monotonic() - started
            await asyncio.gather(*lookups, return_exceptions=True)
            return waited
        finally:
            await pusher.aclose()

    assert asyncio.run(main()) < 0.5


def test_names_are_looked_up_once_at_a_time_and_kept_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A client's callback URLs may name hosts whose name server never answers: each holds a
    # resolver thread however many pushes wait for it, and an honest receiver resolved once
    # needs no thread at all.
    looked_up: list[str] = []
    resolve = socket.getaddrinfo

    def name_server(host: str, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        if host.endswith(".hangs.example"):
            time.sleep(2)
        if host == "gone.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve("127.0.0.1" if host == "receiver.example" else host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", name_server)
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    server = Server(always(closing))

    async def main() -> float:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        url = f"http://receiver.example:{listening.sockets[0].getsockname()[1]}/hook"
        pusher = PushTransport(private_addresses=True)
        try:
            assert (await post(pusher, url)).status_code == 200
            hanging = [
                asyncio.ensure_future(post(pusher, f"http://{n % 2}.hangs.example/hook"))
                for n in range(2 * transport.RESOLVER_THREADS)
            ]
            await asyncio.sleep(0.1)
            started = time.monotonic()
            assert (await post(pusher, url)).status_code == 200  # a new connection
            took = time.monotonic() - started
            for _ in range(3):  # a name that does not resolve is not asked again at once
                with pytest.raises(httpx.ConnectError, match=r"gone\.example"):
                    await post(pusher, "http://gone.example/hook")
            for lookup in hanging:
                lookup.cancel()
            return took
        finally:
            await pusher.aclose()
            listening.close()

    assert asyncio.run(main()) < 1.0
    assert server.connections == 2
    assert sorted(looked_up) == [
        "0.hangs.example",
        "1.hangs.example",
        "gone.example",
        "receiver.example",
    ]


def test_one_accounts_names_take_a_quarter_of_the_resolver_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client naming ever new hosts whose name server never answers: each look-up holds its
    thread long after the push gave up, so the account's pushes to new names fail at once past
    a quarter of the threads, and another account's name is still looked up."""
    resolve = socket.getaddrinfo

    def name_server(host: str, *args: object, **kwargs: object) -> object:
        if host.endswith(".hangs.example"):
            time.sleep(1.5)
        return resolve("127.0.0.1" if host == "receiver.example" else host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", name_server)
    server = Server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))

    def request(url: str, owner: int) -> httpx.Request:
        extensions = {**TIMEOUTS, transport.LOOKUP_OWNER: owner}
        return httpx.Request("POST", url, content=b"{}", extensions=extensions)

    async def main() -> tuple[list[str], float]:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        url = f"http://receiver.example:{listening.sockets[0].getsockname()[1]}/hook"
        pusher = PushTransport(private_addresses=True)
        try:
            names = [f"http://{n}.hangs.example/hook" for n in range(transport.RESOLVER_THREADS)]
            hanging = [
                asyncio.ensure_future(pusher.handle_async_request(request(name, owner=1)))
                for name in names
            ]
            await asyncio.sleep(0.1)
            refused = [str(lookup.exception()) for lookup in hanging if lookup.done()]
            started = time.monotonic()
            assert (await pusher.handle_async_request(request(url, owner=2))).status_code == 200
            took = time.monotonic() - started
            for lookup in hanging:
                lookup.cancel()
            return refused, took
        finally:
            await pusher.aclose()
            listening.close()

    refused, took = asyncio.run(main())
    assert len(refused) == transport.RESOLVER_THREADS - transport.LOOKUPS_PER_OWNER, refused
    assert all("look-ups of its names still wait" in error for error in refused), refused
    assert took < 1.0
