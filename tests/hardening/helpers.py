"""Helpers of the hardening tests: raw HTTP, metrics, server logs and a test CA."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import Deployment, wait_for
from tests.server import http_client

# The shared server's request body limit (the default, 32 MB, is tested as a setting).
BODY_LIMIT = 1 << 20
FORM = "application/x-www-form-urlencoded"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def accepted(port: int) -> socket.socket:
    """A connection the server has taken: a whole request answered on it first (one still in
    the listening socket's queue, on a busy machine, a stop closes unanswered)."""
    sock = connect(port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert read_response(sock).status == 200
    return sock


def read_response(sock: socket.socket) -> RawResponse:
    """One HTTP/1.1 response with a Content-Length, read off ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the headers: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the body"
        body += chunk
    return RawResponse(int(status_line.split()[1]), headers, body[:length])


def request_head(path: str, content_type: str, length: int | None = None) -> bytes:
    """The head of a POST with a Content-Length, or chunked when ``length`` is None."""
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    ).encode()


def send_head_in_flight(sock: socket.socket, head: bytes) -> None:
    """Send a request's ``head`` asking for ``100 Continue``, and wait for it: the server has
    then read the head, so the request is in flight. One whose head a busy server had not yet
    read when it was stopped is closed unanswered."""
    sock.sendall(head[:-2] + b"Expect: 100-continue\r\n\r\n")
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        interim += sock.recv(1)
    assert interim.startswith(b"HTTP/1.1 100"), interim


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``url`` (a /metrics page) by name and labels."""
    with http_client(timeout=10) as client:
        response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def server_log(deployment: Deployment, expected: str) -> str:
    """The server's log once ``expected`` is in it (lines are written in bursts)."""
    path = deployment.process.log_path
    return wait_for(lambda: expected in (text := path.read_text()) and text)


def log_until_now(deployment: Deployment) -> str:
    """The server's log with every line so far: a marker request's line is written last."""
    marker = f"/rest/log-mark-{uuid.uuid4().hex[:12]}"
    deployment.client.get(marker)
    return server_log(deployment, marker)


def request_lines(log: str) -> list[str]:
    """The lines of a key=value log that tell of a request."""
    return [line for line in log.splitlines() if "logger=smsgate.access" in line]
