"""An SMPP 3.4 ESME session on asyncio: one TCP (or TLS) connection bound in one mode.

``Session.run`` connects, binds and serves until the connection ends, then reconnects after an
exponential backoff, until ``stop`` unbinds cleanly. While bound:

- ``submit`` queues a ``submit_sm``; at most ``window`` of them await their resp at once, each
  for at most ``response_timeout``, and no faster than the token bucket of ``tps`` allows.
- ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL`` pause the session and the same PDU is submitted
  again, in its turn; the pause doubles while what is sent after one is throttled too (the
  answers to one window sent before it are one refusal, not a window of them). A part is never
  dropped: past ``submit_deadline`` it comes back unanswered, and the dispatcher queues it
  again.
- ``deliver_sm`` and ``data_sm`` go to the ``inbound`` handler; their resp is sent only when
  the handler's awaitable ends (after the connector's events committed their effect), with
  the command_status it returns.
- ``enquire_link`` is answered, and sent every ``enquire_link_interval``; an unanswered one
  means the link is dead and the connection is dropped.
- An ``unbind`` from the SMSC is answered once the submits in flight have their resps and the
  incoming messages being handled are acknowledged (for ``response_timeout`` at most), as this
  side's own unbind waits: their answers are not lost with the connection.
- A PDU that does not decode is answered (``generic_nack``, or the request's own resp with
  the error's status) and the session goes on; only a frame length that loses the framing
  ends the connection.

Nothing here knows messages or the store: the connector builds the PDUs and reads the replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from smsgate.backoff import doubled
from smsgate.delivery.smpp.pdu import (
    RESPONSE_BIT,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    FrameReader,
    GenericNack,
    Header,
    Pdu,
    PduError,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from smsgate.token_bucket import TokenBucket

log = logging.getLogger(__name__)

MAX_SEQUENCE: Final = 0x7FFFFFFF
THROTTLING: Final = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
# Incoming PDUs whose handler has not finished: past this the session stops reading, so a
# stalled database slows the SMSC down instead of filling memory.
MAX_INBOUND_IN_FLIGHT: Final = 10_000
READ_SIZE: Final = 256 * 1024
# How long a connection this side closed may take to go: over TLS it waits for the peer's
# answer to the close (30 s for a silent one), and a peer that stopped reading holds it too.
CLOSE_GRACE: Final = 1.0

Inbound = DeliverSm | DataSm
InboundHandler = Callable[[Inbound], Awaitable[int]]


class BindType(enum.StrEnum):
    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"

    @property
    def submits(self) -> bool:
        return self is not BindType.RECEIVER


_BIND_PDU: Final[dict[BindType, type[BindTransceiver | BindTransmitter | BindReceiver]]] = {
    BindType.TRANSCEIVER: BindTransceiver,
    BindType.TRANSMITTER: BindTransmitter,
    BindType.RECEIVER: BindReceiver,
}
# The resp a request gets when its body does not decode; other requests get generic_nack.
_ERROR_RESP: Final[dict[int, type[Pdu]]] = {
    CommandId.DELIVER_SM: DeliverSmResp,
    CommandId.DATA_SM: DataSmResp,
    CommandId.SUBMIT_SM: SubmitSmResp,
}


class SessionState(enum.StrEnum):
    CONNECTING = "connecting"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"
    CLOSING = "closing"  # this side ended the connection, which has not closed yet
    WAITING = "waiting to reconnect"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One bind's settings. Made by the connector's settings (``session_configs``), which hold
    the defaults: none here, so that the two cannot drift apart."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    bind_type: BindType
    window: int
    tps: float | None
    response_timeout: float
    enquire_link_interval: float
    connect_timeout: float
    reconnect_delay: float
    reconnect_max_delay: float
    throttle_delay: float
    throttle_max_delay: float
    submit_deadline: float
    ssl: ssl.SSLContext | None


@dataclass(frozen=True, slots=True)
class SubmitReply:
    """The SMSC's answer to one submit_sm; ``status`` None when none came (link down, time out)."""

    status: int | None
    message_id: str = ""
    reason: str = ""
    # The SMSC got the PDU, and may have taken it, but gave no verdict: no resp came in
    # ``response_timeout``, or the one that came cannot be read.
    unanswered: bool = False
    # The PDU went out on a link that was lost before its resp came: it may have been taken.
    lost_in_flight: bool = False


def tps_bucket(tps: float, now: float) -> TokenBucket:
    """A bind's bucket: it never beats its TPS for long."""
    # 50 ms worth of tokens: sends come in small bursts (one wakeup each) and any one second
    # holds at most 5% more than the TPS.
    return TokenBucket(tps, max(1.0, tps / 20), now)


class SequenceNumbers:
    """1 .. 0x7FFFFFFF, then 1 again (SMPP 3.4 §5.1.4)."""

    __slots__ = ("_last",)

    def __init__(self, last: int = 0) -> None:
        self._last = last

    def next(self) -> int:
        self._last = self._last % MAX_SEQUENCE + 1
        return self._last


class RateMeter:
    """Events in the last whole second."""

    __slots__ = ("_count", "_second", "last")

    def __init__(self) -> None:
        self._second = 0
        self._count = 0
        self.last = 0

    def add(self, now: float) -> None:
        second = int(now)
        if second != self._second:
            self.last = self._count if second == self._second + 1 else 0
            self._second = second
            self._count = 0
        self._count += 1

    def rate(self, now: float) -> int:
        second = int(now)
        if second == self._second:
            return self.last
        return self._count if second == self._second + 1 else 0


@dataclass
class SessionCounters:
    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    throttled: int = 0
    timed_out: int = 0
    unsent: int = 0
    inbound: int = 0
    nacked: int = 0
    binds: int = 0
    bind_failures: int = 0
    disconnects: int = 0


class LinkError(Exception):
    """The connection cannot go on: refused bind, dead link, lost framing."""


@dataclass(slots=True)
class _Submission:
    pdu: SubmitSm
    future: asyncio.Future[SubmitReply]
    deadline: float
    turn: int  # submit order: one throttled goes back in it, ahead of all submitted later
    sent_at: float = 0.0


@dataclass(slots=True)
class _Pending:
    deadline: float
    submission: _Submission | None = None  # None: a control request awaiting ``future``
    future: asyncio.Future[tuple[Header, Pdu]] | None = None
    overdue: bool = False  # a submit past its deadline, whose resp may still come


@dataclass(slots=True)
class _Connection:
    """What exists for one connection; a resp for an older connection is never sent on a newer."""

    writer: asyncio.StreamWriter
    out: list[bytes] = field(default_factory=list)
    flush_scheduled: bool = False
    closed: bool = False
    reason: str = ""
    # An overdue submit_sm_resp: nothing more is sent, and the connection ends once the other
    # submits in flight have their answers (or are overdue too).
    draining: bool = False
    ended: bool = False  # its read loop ended


class Session:
    """One bind to an SMSC, kept up until ``stop``."""

    def __init__(self, config: SessionConfig, inbound: InboundHandler, *, name: str = "") -> None:
        self.config = config
        self.name = name or f"{config.bind_type}@{config.host}:{config.port}"
        self._inbound = inbound
        self.state = SessionState.STOPPED
        self.last_error = ""
        self.counters = SessionCounters()
        self.submit_rate = RateMeter()
        self._sequence = SequenceNumbers()
        self._queue: deque[_Submission] = deque()
        self._pending: dict[int, _Pending] = {}
        self._window_used = 0
        self._connection: _Connection | None = None
        self._bucket = tps_bucket(config.tps, time.monotonic()) if config.tps else None
        self._paused_until = 0.0
        self._throttled_in_a_row = 0
        self._throttled_at = 0.0  # the last throttle answer that lengthened the pause
        self._turns = itertools.count()
        self._unbind_answer: asyncio.Task[None] | None = None
        self._pump_timer: asyncio.TimerHandle | None = None
        self._inbound_in_flight = 0
        self._inbound_room = asyncio.Event()
        self._inbound_answered = asyncio.Event()  # none in flight
        self._inbound_answered.set()
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.bound = asyncio.Event()  # set while bound
        self._window_empty = asyncio.Event()
        self._window_empty.set()

    # --- public ----------------------------------------------------------------------------

    @property
    def is_bound(self) -> bool:
        return self.state is SessionState.BOUND

    @property
    def window_used(self) -> int:
        return self._window_used

    def start(self) -> None:
        """Run the session until ``stop``; a stopped session can be started again (a worker
        that lost its bind's lease and took it back)."""
        if self._runner is None:
            self._stopping.clear()
            self._runner = asyncio.create_task(self.run(), name=f"smpp {self.name}")

    def submit(self, pdus: Sequence[SubmitSm]) -> list[asyncio.Future[SubmitReply]]:
        """Queue ``pdus``; each future gets the SMSC's answer (``status`` None: none came)."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[SubmitReply]] = [loop.create_future() for _ in pdus]
        if not self.is_bound or not self.config.bind_type.submits:
            self.counters.unsent += len(pdus)
            reply = SubmitReply(None, reason=f"{self.name} is {self.state}")
            for future in futures:
                future.set_result(reply)
            return futures
        deadline = time.monotonic() + self.config.submit_deadline
        self._queue.extend(map(_Submission, pdus, futures, itertools.repeat(deadline), self._turns))
        self._pump()
        return futures

    async def stop(self) -> None:
        """Unbind (after the submits in flight are answered, for a moment) and stop."""
        self._stopping.set()
        self._fail_queued("the session is stopping")
        connection = self._connection
        try:
            if self.is_bound and connection is not None:
                self.state = SessionState.UNBINDING
                with contextlib.suppress(TimeoutError, LinkError):
                    async with asyncio.timeout(self.config.response_timeout):
                        await self._window_empty.wait()
                        # What the SMSC sent in and is being committed gets its resp, rather
                        # than be delivered again after the restart (and recorded twice).
                        await self._inbound_answered.wait()
                        await self._request(Unbind())
                self._close(connection, "unbound")
        finally:
            # Even when this stop is cut short: a session left running, or stopped with its
            # runner kept, could never be started again.
            if self._runner is not None:
                runner, self._runner = self._runner, None
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
            self.state = SessionState.STOPPED

    # --- the connection's life ---------------------------------------------------------------

    async def run(self) -> None:
        """Connect, bind and serve; again after a backoff whenever the connection ends."""
        failures = 0
        while not self._stopping.is_set():
            bound_for = 0.0
            try:
                bound_for = await self._connect_and_serve()
            except (OSError, TimeoutError, LinkError) as error:
                self._note(error)
            except Exception as error:  # a bug here must not leave the bind down for good
                log.exception("%s: the session failed; reconnecting", self.name)
                self._note(error)
            finally:
                self._connection_ended()
            if self._stopping.is_set():
                break
            # A bind the SMSC drops soon after granting it (too many binds, an address it
            # refuses) is a failed attempt too: the backoff doubles rather than rebinding at
            # the first delay for ever, which SMSCs take for an attack.
            failures = 0 if bound_for >= self.config.reconnect_max_delay else failures + 1
            delay = doubled(
                self.config.reconnect_delay, failures, self.config.reconnect_max_delay, jitter=0.2
            )
            self.state = SessionState.WAITING
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
        self.state = SessionState.STOPPED

    async def _connect_and_serve(self) -> float:
        """One connection, from connect to its end; how long it was bound (seconds)."""
        config = self.config
        self.state = SessionState.CONNECTING
        async with asyncio.timeout(config.connect_timeout):
            reader, writer = await asyncio.open_connection(
                config.host,
                config.port,
                ssl=config.ssl,
                server_hostname=config.host if config.ssl else None,
                limit=READ_SIZE,
            )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Each PDU is small and awaited by the peer: Nagle would hold it back ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = self._connection = _Connection(writer)
        reading = asyncio.create_task(self._read_loop(reader, connection))
        keepalive: asyncio.Task[None] | None = None
        try:
            self.state = SessionState.BINDING
            await self._bind()
            self.counters.binds += 1
            self.state = SessionState.BOUND
            self.last_error = ""
            self.bound.set()
            bound_at = time.monotonic()
            log.info("%s: bound", self.name)
            keepalive = asyncio.create_task(self._keepalive(connection))
            try:
                await reading
            except (OSError, LinkError) as error:
                self._note(connection.reason or error)
            if not self._stopping.is_set():
                self.counters.disconnects += 1
            return time.monotonic() - bound_at
        finally:
            self._close(connection, "")
            for task in (reading, keepalive):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(
                *(task for task in (reading, keepalive) if task is not None),
                return_exceptions=True,
            )

    def _note(self, error: BaseException | str) -> None:
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self.last_error = error
        if not self._stopping.is_set():
            log.warning("%s: %s", self.name, error)

    async def _bind(self) -> None:
        config = self.config
        bind = _BIND_PDU[config.bind_type](
            system_id=config.system_id, password=config.password, system_type=config.system_type
        )
        async with asyncio.timeout(config.response_timeout):
            header, _ = await self._request(bind)
        if header.command_status != CommandStatus.ESME_ROK:
            self.counters.bind_failures += 1
            raise LinkError(f"bind refused: {status_name(header.command_status)}")

    def _connection_ended(self) -> None:
        if self._unbind_answer is not None:
            self._unbind_answer.cancel()
            self._unbind_answer = None
        self.bound.clear()
        self._connection = None
        self._paused_until = 0.0
        self._drop_pending()
        self._fail_queued("not bound")

    def _drop_pending(self) -> None:
        """The answers of what is in flight will never come: whether the SMSC took those parts
        is unknown, so they go back to the dispatcher (a repeat beats a loss)."""
        pending, self._pending = self._pending, {}
        self._window_used = 0
        self._window_empty.set()
        for entry in pending.values():
            if entry.overdue:
                assert entry.submission is not None
                reply = SubmitReply(None, reason="no submit_sm_resp", unanswered=True)
                self._reply(entry.submission, reply)
            elif entry.submission is not None:
                reply = SubmitReply(None, reason="connection lost", lost_in_flight=True)
                self._reply(entry.submission, reply)
            elif entry.future is not None and not entry.future.done():
                entry.future.set_exception(LinkError("connection lost"))

    def _fail_queued(self, reason: str) -> None:
        queued, self._queue = self._queue, deque()
        self.counters.unsent += len(queued)
        for submission in queued:
            self._reply(submission, SubmitReply(None, reason=reason))

    def _close(self, connection: _Connection, reason: str) -> None:
        """Close ``connection`` (once); ``reason`` is why, when it is this side's choice.

        The bind is down from now, not once the connection has gone (its read loop ends): over
        TLS that waits for the peer's answer to the close, so a link found dead would be
        chosen for parts, which waited, for 30 s more. It is cut after ``CLOSE_GRACE``.
        """
        if not connection.closed:
            self._flush(connection)
            connection.closed = True
            connection.reason = reason
            if connection is self._connection and self.state is SessionState.BOUND:
                self.state = SessionState.CLOSING
                self.bound.clear()
            connection.writer.close()
            asyncio.get_running_loop().call_later(CLOSE_GRACE, self._cut, connection)

    @staticmethod
    def _cut(connection: _Connection) -> None:
        if not connection.ended:
            connection.writer.transport.abort()

    async def _keepalive(self, connection: _Connection) -> None:
        """Send enquire_link regularly and time out what awaits an answer."""
        interval = self.config.enquire_link_interval
        tick = min(1.0, self.config.response_timeout / 4, interval)
        last = time.monotonic()
        next_enquiry = last + interval
        while not connection.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            stalled, last = now - last - tick, now
            if stalled > tick:
                self._postpone(stalled)
            self._expire(now, connection)
            if now >= next_enquiry:
                next_enquiry = now + interval
                asyncio.get_running_loop().create_task(self._enquire(connection))

    async def _enquire(self, connection: _Connection) -> None:
        try:
            async with asyncio.timeout(self.config.response_timeout):
                header, _ = await self._request(EnquireLink())
        except TimeoutError:
            self._close(connection, "enquire_link unanswered")
        except LinkError:
            pass  # the connection ended meanwhile
        else:
            if header.command_status == CommandStatus.ESME_RINVBNDSTS:
                # The SMSC no longer holds this session bound: bind again.
                self._close(
                    connection, f"enquire_link answered {status_name(header.command_status)}"
                )

    def _postpone(self, seconds: float) -> None:
        """The process did not run for ``seconds`` (stopped, frozen, starved of CPU): the
        SMSC's resps may be waiting unread, or the submits still unsent. That time is not the
        SMSC's: the deadlines move on by it (expired at once, parts the SMSC took went out
        again on the next bind)."""
        log.warning("%s: the process did not run for %.1f s", self.name, seconds)
        for entry in self._pending.values():
            entry.deadline += seconds
        for submission in self._queue:
            submission.deadline += seconds

    def _expire(self, now: float, connection: _Connection) -> None:
        """Submits unanswered past ``response_timeout``, or queued past their deadline.

        An overdue submit_sm_resp ends the connection: the SMSC still counts the PDU in its
        window, and one that lost it would count it for good. But not at once: nothing more is
        sent, and the connection ends when no other submit awaits its resp (answered, or
        overdue too), since the SMSC took those and the link drop would have them sent again.
        A resp that comes late still counts; the parts of those that never came go back to
        the queue (sent at least once).
        """
        for sequence, entry in list(self._pending.items()):
            if entry.deadline > now:
                break  # in the order sent, so in deadline order
            if entry.submission is None:
                del self._pending[sequence]
                if entry.future is not None and not entry.future.done():
                    entry.future.set_exception(TimeoutError("no resp"))
            elif not entry.overdue:
                entry.overdue = True
                self.counters.timed_out += 1
                connection.draining = True
        while self._queue and self._queue[0].deadline <= now:
            self.counters.unsent += 1
            self._reply(self._queue.popleft(), SubmitReply(None, reason="throttled too long"))
        self._pump()

    # --- writing ---------------------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        connection = self._connection
        if connection is None or connection.closed:
            return
        connection.out.append(frame)
        if not connection.flush_scheduled:
            connection.flush_scheduled = True
            # PDUs written in one turn of the loop leave in one send.
            asyncio.get_running_loop().call_soon(self._flush, connection)

    def _flush(self, connection: _Connection) -> None:
        connection.flush_scheduled = False
        if connection.out and not connection.closed:
            connection.writer.write(b"".join(connection.out))
        connection.out.clear()

    def _send_request(self, pdu: Pdu, entry: _Pending) -> int:
        sequence = self._sequence.next()
        frame = encode(pdu, sequence)
        self._pending[sequence] = entry
        self._write(frame)
        return sequence

    def _request(self, pdu: Pdu) -> asyncio.Future[tuple[Header, Pdu]]:
        """Send a control request; the future gets its resp (the caller bounds the wait)."""
        if self._connection is None or self._connection.closed:
            raise LinkError("not connected")
        future: asyncio.Future[tuple[Header, Pdu]] = asyncio.get_running_loop().create_future()
        entry = _Pending(time.monotonic() + self.config.response_timeout, future=future)
        self._send_request(pdu, entry)
        return future

    # --- submitting ------------------------------------------------------------------------

    def _pump(self) -> None:
        """Send queued submits while the window, the pause and the token bucket allow."""
        if self._pump_timer is not None:
            self._pump_timer.cancel()
            self._pump_timer = None
        connection = self._connection
        if connection is not None and connection.draining:
            if not any(e.submission and not e.overdue for e in self._pending.values()):
                self._close(connection, "submit_sm_resp overdue")
            return
        if not self._queue or not self.is_bound or connection is None or connection.closed:
            return
        now = time.monotonic()
        if now < self._paused_until:
            self._pump_later(self._paused_until - now)
            return
        window = self.config.window
        response_deadline = now + self.config.response_timeout
        while self._queue and self._window_used < window:
            if self._bucket is not None:
                wait = self._bucket.take(now)
                if wait:
                    self._pump_later(wait)
                    return
            submission = self._queue.popleft()
            if submission.future.done():  # the caller gave up on it
                continue
            if submission.deadline <= now:
                # Throttled past its deadline: sent now, it could still be with the bind when
                # its claim lapses (the settings' bound), and be claimed and sent twice.
                self.counters.unsent += 1
                self._reply(submission, SubmitReply(None, reason="throttled too long"))
                continue
            try:
                self._send_request(submission.pdu, _Pending(response_deadline, submission))
            except PduError as error:
                self.counters.rejected += 1
                self._reply(submission, SubmitReply(error.status, reason=error.reason))
                continue
            submission.sent_at = now
            self._window_used += 1
            self._window_empty.clear()
            self.counters.submitted += 1
            self.submit_rate.add(now)

    def _pump_later(self, delay: float) -> None:
        self._pump_timer = asyncio.get_running_loop().call_later(delay, self._pump)

    @staticmethod
    def _reply(submission: _Submission, reply: SubmitReply) -> None:
        if not submission.future.done():
            submission.future.set_result(reply)

    def _release_slot(self) -> None:
        self._window_used -= 1
        if not self._window_used:
            self._window_empty.set()

    def _on_submit_resp(self, submission: _Submission, status: int, message_id: str) -> None:
        self._release_slot()
        if status in THROTTLING:
            self.counters.throttled += 1
            if submission.sent_at > self._throttled_at:
                # Sent after the last refusal (so after its pause): the SMSC still refuses,
                # and the pause doubles. The others of a window sent before that refusal are
                # the same one: doubled for each, one full window paused a bind for seconds.
                now = time.monotonic()
                pause = doubled(
                    self.config.throttle_delay,
                    self._throttled_in_a_row,
                    self.config.throttle_max_delay,
                )
                self._throttled_in_a_row += 1
                self._throttled_at = now
                self._paused_until = max(self._paused_until, now + pause)
            # Same PDU again; the deadline still bounds how long it may wait.
            self._put_back(submission)
        elif status == CommandStatus.ESME_RINVBNDSTS:
            # Not a verdict on the message: the SMSC no longer holds this session bound.
            self._reply(submission, SubmitReply(None, reason="the SMSC says the bind is gone"))
            if self._connection is not None:
                self._close(self._connection, "submit_sm answered ESME_RINVBNDSTS")
        else:
            self._throttled_in_a_row = 0
            if status == CommandStatus.ESME_ROK:
                self.counters.accepted += 1
            else:
                self.counters.rejected += 1
            self._reply(submission, SubmitReply(status, message_id))
        # the read loop refills the window once per chunk read

    def _put_back(self, submission: _Submission) -> None:
        """Queue a throttled submit again in its turn: behind those submitted before it, ahead
        of those submitted after, so that a subscriber's messages keep their order."""
        index = 0
        for queued in self._queue:
            if queued.turn > submission.turn:
                break
            index += 1
        self._queue.insert(index, submission)

    # --- reading ---------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        try:
            await self._read_frames(reader, connection)
        finally:
            connection.ended = True
            self._drop_pending()  # now, not when the connection is cleaned up: a bind awaits

    async def _read_frames(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        frames = FrameReader()
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                raise LinkError("the SMSC closed the connection")
            try:
                received = frames.feed(data)
            except PduError as error:
                # The framing is lost: answer what can be answered, then drop the connection.
                self._answer_malformed(error)
                raise LinkError(f"unreadable frame: {error}") from None
            for frame in received:
                self._on_frame(frame, connection)
            self._pump()  # the room the resps of this chunk made
            if self._inbound_in_flight >= MAX_INBOUND_IN_FLIGHT:
                self._inbound_room.clear()
                await self._inbound_room.wait()

    def _on_frame(self, frame: bytes, connection: _Connection) -> None:
        try:
            header, pdu = decode(frame)
        except PduError as error:
            if error.command_id == CommandId.ALERT_NOTIFICATION:
                log.info("%s: alert_notification ignored (SMPP 3.4 §4.12: no resp)", self.name)
                return
            self._answer_malformed(error)
            return
        if header.command_id & RESPONSE_BIT:
            self._on_response(header, pdu)
        else:
            self._on_request(header, pdu, connection)

    def _answer_malformed(self, error: PduError) -> None:
        command_id = error.command_id
        sequence = error.sequence_number or 0
        log.warning(
            "%s: malformed PDU (command_id %s, sequence %d): %s",
            self.name,
            f"{command_id:#010x}" if command_id is not None else "?",
            sequence,
            error,
        )
        if command_id is not None and command_id & RESPONSE_BIT:
            entry = self._pending.pop(sequence, None)
            if entry is not None:
                self._unreadable_response(entry, error)
            return
        resp_class = _ERROR_RESP.get(command_id) if command_id is not None else None
        self.counters.nacked += 1
        self._write(encode(resp_class() if resp_class else GenericNack(), sequence, error.status))

    def _unreadable_response(self, entry: _Pending, error: PduError | str) -> None:
        if entry.submission is not None:
            # The SMSC's verdict is unreadable: submit again later rather than guess. The SMSC
            # got the PDU and may have taken it, so later and later, as an unanswered one.
            self._release_slot()
            reply = SubmitReply(None, reason=f"unreadable resp: {error}", unanswered=True)
            self._reply(entry.submission, reply)
        elif entry.future is not None and not entry.future.done():
            entry.future.set_exception(LinkError(f"unreadable resp: {error}"))

    def _on_response(self, header: Header, pdu: Pdu) -> None:
        entry = self._pending.pop(header.sequence_number, None)
        if entry is None:
            log.info(
                "%s: %s for sequence %d, which awaits nothing (timed out?)",
                self.name,
                header.command_id.name,
                header.sequence_number,
            )
            return
        if entry.submission is None:
            if entry.future is not None and not entry.future.done():
                entry.future.set_result((header, pdu))
        elif isinstance(pdu, SubmitSmResp):
            self._on_submit_resp(entry.submission, header.command_status, pdu.message_id)
        elif isinstance(pdu, GenericNack) and header.command_status != CommandStatus.ESME_ROK:
            # The SMSC could not take the PDU, and says why (a throttling status included).
            self._on_submit_resp(entry.submission, header.command_status, "")
        else:
            # A generic_nack that says nothing went wrong, or the resp of another command:
            # no verdict on the message, which taken as accepted would wait for a receipt
            # that can never find it.
            status = status_name(header.command_status)
            self._unreadable_response(entry, f"{header.command_id.name} ({status})")

    def _on_request(self, header: Header, pdu: Pdu, connection: _Connection) -> None:
        sequence = header.sequence_number
        if isinstance(pdu, DeliverSm | DataSm):
            self.counters.inbound += 1
            self._inbound_in_flight += 1
            self._inbound_answered.clear()
            answered: asyncio.Future[int]
            try:
                answered = asyncio.ensure_future(self._inbound(pdu))
            except Exception as error:  # a handler bug must not end the session
                answered = asyncio.get_running_loop().create_future()
                answered.set_exception(error)
            resp_class = DeliverSmResp if isinstance(pdu, DeliverSm) else DataSmResp
            answered.add_done_callback(
                partial(self._answer_inbound, connection, sequence, resp_class)
            )
        elif isinstance(pdu, EnquireLink):
            self._write(encode(EnquireLinkResp(), sequence))
        elif isinstance(pdu, Unbind):
            log.info("%s: the SMSC unbinds", self.name)
            self.state = SessionState.UNBINDING
            self.bound.clear()
            self._unbind_answer = asyncio.get_running_loop().create_task(
                self._answer_unbind(connection, sequence)
            )
        else:
            self.counters.nacked += 1
            self._write(encode(GenericNack(), sequence, CommandStatus.ESME_RINVCMDID))

    async def _answer_unbind(self, connection: _Connection, sequence: int) -> None:
        """Answer the SMSC's unbind once the submits in flight have their resps and what it
        sent in is acknowledged, as ``stop`` does before its own unbind; then close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.response_timeout):
                await self._window_empty.wait()
                await self._inbound_answered.wait()
        if connection is self._connection:
            self._write(encode(UnbindResp(), sequence))
        self._close(connection, "the SMSC unbound")

    def _answer_inbound(
        self,
        connection: _Connection,
        sequence: int,
        resp_class: type[DeliverSmResp | DataSmResp],
        answered: asyncio.Future[int],
    ) -> None:
        self._inbound_in_flight -= 1
        self._inbound_room.set()
        if not self._inbound_in_flight:
            self._inbound_answered.set()
        if answered.cancelled():
            return  # stopping: the SMSC delivers it again
        error = answered.exception()
        if error is not None:
            log.error("%s: handling an incoming PDU failed", self.name, exc_info=error)
            status: int = CommandStatus.ESME_RX_T_APPN
        else:
            status = answered.result()
        if connection is not self._connection:
            # Acknowledged on the connection it came by, or not at all: the SMSC sends it again.
            return
        self._write(encode(resp_class(), sequence, status))

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        now = time.monotonic()
        return {
            "name": self.name,
            "bind": str(self.config.bind_type),
            "state": str(self.state),
            "window_used": self._window_used,
            "window": self.config.window,
            "queued": len(self._queue),
            "tps": self.submit_rate.rate(now),
            "tps_limit": self.config.tps,
            "throttled_for": round(max(0.0, self._paused_until - now), 3),
            "last_error": self.last_error,
            **vars(self.counters),
        }


def status_name(status: int) -> str:
    """``ESME_R...`` for a known command_status, else its hex value."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"{status:#010x}"
