"""The HTTP/1.1 protocol the listeners serve: uvicorn's httptools protocol with the limits it
lacks (its h11 protocol has them, at a fraction of the speed).

uvicorn bounds neither a request head's size nor the time it takes: a client could send headers
without end (1 GB of them took 1 GB of memory), or open connections and send nothing, or a
byte now and then, each holding a descriptor for good. Here a head is refused past
``MAX_HEAD_BYTES``, a head must be in whole within the head timeout from the connection's
opening or the request's first byte, and a body that stops coming for the stall timeout, or
comes slower on average than ``MIN_BODY_BYTES_PER_SECOND``, ends its connection. What a chunked
body carries besides its data (chunk sizes, and trailer fields, which uvicorn keeps like
headers) is bounded like a head, and bytes between requests that start none (a blank line,
which also stops uvicorn's keep-alive timer) owe a request head in the head timeout.

A request that offers an upgrade (h2c) is served as HTTP/1.1 with its body, which uvicorn's
httptools protocol loses (``_declined_upgrade_body``), and a request line carrying raw
non-ASCII bytes is read with them percent-encoded (``_percent_encoded_line``).
"""

from __future__ import annotations

import asyncio
import re

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from smsgate.api.rest.rendering import JSON_HEADERS, render_error
from smsgate.domain.errors import InvalidArgument, echoed

# The request line and headers. httptools refuses a URL over 64 KiB too, but only once it
# has read it whole.
MAX_HEAD_BYTES = 128 * 1024
# What a request's body may carry besides its data: chunk sizes and trailer fields, counted
# from the data that completed the head (which may hold up to a head of it).
MAX_FRAMING_BYTES = 2 * MAX_HEAD_BYTES
# The slowest a body may come on average, past its first stall timeout: a byte a minute kept a
# connection for good, each byte pushing the stall deadline on. A mobile link on GPRS is
# several times faster.
MIN_BODY_BYTES_PER_SECOND = 500
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _percent_encoded(byte: re.Match[bytes]) -> bytes:
    return b"%%%02X" % byte[0][0]


class GuardedHttpProtocol(HttpToolsProtocol):
    """One connection; ``head_timeout`` and ``stall_timeout`` are set per listener by
    ``guarded_http``.

    Every request pays for the checks, so they are cheap: the head is measured by what arrives
    while it is incomplete, not header by header, and a request in progress sets the time by
    which it must have progressed (a float) that one timer per connection looks at now and
    then, rather than a timer per request. A connection is closed at most the longer timeout
    late.
    """

    head_timeout: float
    stall_timeout: float
    # The app refuses a body past it (Code 2); its connection then closes after the answer,
    # rather than read the rest (a gigabyte declared) only to drop it.
    max_body: int

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._timer: asyncio.TimerHandle | None = None
        # When the request in progress must have come further; None between requests, where
        # uvicorn's keep-alive timeout takes over.
        self._deadline: float | None = None
        self._in_head = True
        self._head_bytes = 0
        self._read_body_bytes = 0  # of the data being read
        # Of a request that offered an upgrade, the body still to come (``_feed``).
        self._upgrade_body_due = 0
        # Of the request in progress, after its head: what came, and what was body.
        self._after_head = 0
        self._body_bytes = 0
        self._body_since = 0.0
        # Whether what comes next begins a request line (no request under way), or goes on
        # with one that a read cut short (``_percent_encoded_line``).
        self._between_requests = True
        self._line_continues = False
        super().connection_made(transport)
        self._expect_within(self.head_timeout)  # a new connection owes a request head

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._read_body_bytes = 0
        if self._between_requests or self._line_continues:
            data = self._percent_encoded_line(data)
        self._feed(data)
        if self._in_head:  # still, after this data: all of it was head, but for the body
            # of a request it ended (a read of 256 KB may end one body and begin a head)
            self._head_bytes += len(data) - self._read_body_bytes
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self.send_400_response(f"Request head over {MAX_HEAD_BYTES} bytes")
        elif self._deadline is not None:  # a body coming
            self._after_head += len(data)
            self._deadline = min(
                self.loop.time() + self.stall_timeout,
                self._body_since
                + self.stall_timeout
                + self._after_head / MIN_BODY_BYTES_PER_SECOND,
            )
            if self._after_head - self._body_bytes > MAX_FRAMING_BYTES:
                # The response may have begun: no 400 can follow it, the connection ends.
                self.transport.close()
        elif self.timeout_keep_alive_task is None and (
            self.cycle is None or self.cycle.response_complete
        ):
            # Idle, and no timer would end it: what comes owes a head, as on a new connection
            # (more blank lines push no deadline on).
            self._in_head = True
            self._head_bytes = len(data)
            self._expect_within(self.head_timeout)

    def _feed(self, data: bytes) -> None:
        # uvicorn's data_received, but for an upgrade offered: see ``_declined_upgrade_body``.
        self._unset_keepalive_if_required()
        if self._upgrade_body_due:
            data = self._declined_upgrade_body(data)
            if not data:
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
        except httptools.HttpParserUpgrade as upgrade:
            # Declined (RFC 9110 7.8): the connection stays HTTP/1.1, and what follows the
            # head is the request's body, then the next request, for a parser anew.
            self.parser = httptools.HttpRequestParser(self)
            rest = data[upgrade.args[0] :]
            if self._upgrade_body_due:
                rest = self._declined_upgrade_body(rest)
            if rest:
                self._feed(rest)

    def _declined_upgrade_body(self, data: bytes) -> bytes:
        """The body of a request that offered an upgrade, taken from ``data``; what follows it.

        llhttp reads such a request as ending with its head and leaves what follows to the
        protocol upgraded to, which would lose the body of every POST that offers h2c, as
        Java's HttpClient and ``curl --http2`` do over plain HTTP (uvicorn#2722)."""
        taken = data[: self._upgrade_body_due]
        self._upgrade_body_due -= len(taken)
        if taken:
            self.on_body(taken)
        if not self._upgrade_body_due:
            self.on_message_complete()
        return data[len(taken) :]

    def _percent_encoded_line(self, data: bytes) -> bytes:
        """``data`` with the non-ASCII bytes of the request line it begins (or goes on with)
        percent-encoded.

        curl, wget and PHP's ``file_get_contents`` send a URL as written, so an alert script's
        ``...&data=Сервер_недоступен`` arrives as raw UTF-8, which IIS (the original service's
        server) reads and llhttp refuses. Encoded, it reads as the client meant it. Only the
        request line: a raw UTF-8 body is the API's own (``parse_form``). A request pipelined
        behind another in one read is parsed before it could be seen, and refused as before.
        """
        start = 0
        if not self._line_continues:
            while data[start : start + 1] in (b"\r", b"\n"):  # blank lines before a request
                start += 1
        end = data.find(b"\n", start)
        self._line_continues = end < 0 and start < len(data)
        stop = len(data) if end < 0 else end
        line = data[start:stop]
        if line.isascii():
            return data
        return data[:start] + _NON_ASCII.sub(_percent_encoded, line) + data[stop:]

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        self._read_body_bytes += len(body)
        if self._body_bytes > self.max_body:  # chunked: known as it comes
            self._close_after_answer()
        super().on_body(body)

    def _close_after_answer(self) -> None:
        if self.cycle is not None:
            self.cycle.keep_alive = False

    def on_message_begin(self) -> None:
        self._between_requests = False
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._expect_within(self.head_timeout)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._after_head = self._body_bytes = 0
        self._body_since = self.loop.time()
        self._expect_within(self.stall_timeout)  # the body's next piece
        super().on_headers_complete()
        length = self._content_length()
        if self.parser.should_upgrade():
            self._upgrade_body_due = length
        if length > self.max_body:
            self._close_after_answer()

    def _content_length(self) -> int:
        for name, value in self.headers:
            if name == b"content-length":
                return int(value)  # llhttp has checked it is digits, and one value
        return 0

    def on_message_complete(self) -> None:
        if self._upgrade_body_due:
            return  # the head of a request that offered an upgrade: its body comes next
        self._deadline = None
        self._between_requests = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """The refusal of a request that cannot be read (malformed, a URL over httptools' 64
        KiB, a head over ``MAX_HEAD_BYTES``) in the API's error body, as every other refusal:
        uvicorn answers plain text, which a client reading ``Code`` and ``Desc`` cannot."""
        status, body = render_error(InvalidArgument(echoed(msg)))
        head = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *JSON_HEADERS]:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _expect_within(self, seconds: float) -> None:
        self._deadline = self.loop.time() + seconds
        if self._timer is None:
            self._timer = self.loop.call_later(seconds, self._look)

    def _look(self) -> None:
        self._timer = None
        if self._deadline is None:
            return
        remaining = self._deadline - self.loop.time()
        if remaining > 0:
            self._timer = self.loop.call_later(remaining, self._look)
        elif not self.transport.is_closing():
            self.transport.close()


def guarded_http(
    head_timeout: float, stall_timeout: float, max_body: int
) -> type[GuardedHttpProtocol]:
    """The protocol class of a listener with these timeouts, in seconds, and body limit."""
    limits = {"head_timeout": head_timeout, "stall_timeout": stall_timeout, "max_body": max_body}
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), limits)
