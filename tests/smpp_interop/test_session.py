"""The ESME session against node-smpp's SMSC: bind, window, TPS, throttling, keep-alive,
malformed PDUs, reconnection and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from smsgate.delivery.connectors.settings import SmppConnectorSettings
from smsgate.delivery.smpp.pdu import (
    CommandId,
    CommandStatus,
    DataSm,
    DeliverSm,
    EnquireLink,
    SubmitSm,
    encode,
)
from smsgate.delivery.smpp.session import Session, SessionConfig, SessionState
from tests.smpp_interop.smsc import PASSWORD, SYSTEM_ID, NodeSmsc
from tests.tls import CertificateFiles

T = TypeVar("T")
MakeSmsc = Callable[..., NodeSmsc]
RAW = 0x70000000  # sequence numbers of the PDUs the SMSC writes raw


def config(smsc: NodeSmsc, **overrides: Any) -> SessionConfig:
    """A bind to ``smsc`` with the connector settings' defaults, reconnecting and timing out
    sooner, and ``overrides``."""
    settings = SmppConnectorSettings(
        host="127.0.0.1", port=smsc.port, system_id=SYSTEM_ID, password=PASSWORD
    )
    (base,) = settings.session_configs()
    sooner = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.2, "response_timeout": 2.0}
    return replace(base, **{**sooner, **overrides})


async def acknowledge(_pdu: DeliverSm | DataSm) -> int:
    return CommandStatus.ESME_ROK


def run(session: Session, work: Callable[[Session], Awaitable[T]], bind: bool = True) -> T:
    """Run ``work`` on ``session`` once it is bound (if ``bind``), then stop the session."""

    async def main() -> T:
        session.start()
        try:
            if bind:
                async with asyncio.timeout(10):
                    await session.bound.wait()
            return await work(session)
        finally:
            await session.stop()

    return asyncio.run(main())


def submit_sm(number: int = 0) -> SubmitSm:
    return SubmitSm(
        source_addr="SMS Info",
        source_addr_ton=5,
        destination_addr=f"7916{number:07d}",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        short_message=b"Hello",
    )


def slow_handler(
    started: asyncio.Event, seconds: float
) -> Callable[[DeliverSm | DataSm], Awaitable[int]]:
    """An incoming-message handler that sets ``started``, then takes ``seconds`` to commit."""

    async def slow(_pdu: DeliverSm | DataSm) -> int:
        started.set()
        await asyncio.sleep(seconds)
        return CommandStatus.ESME_ROK

    return slow


async def submit_all(session: Session, count: int) -> list[int | None]:
    replies = await asyncio.gather(*session.submit([submit_sm(i) for i in range(count)]))
    return [reply.status for reply in replies]


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``check`` (state of the session or of the SMSC process, no event to await)."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def test_binds_submits_and_unbinds_cleanly(smscs: MakeSmsc) -> None:
    smsc = smscs()

    async def work(session: Session) -> list[int | None]:
        assert session._connection is not None
        sock = session._connection.writer.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        return await submit_all(session, 20)

    statuses = run(Session(config(smsc), acknowledge), work)
    assert statuses == [CommandStatus.ESME_ROK] * 20
    stats = smsc.stats()
    assert (stats["binds"], stats["accepted"], stats["unbinds"]) == (1, 20, 1)


def test_a_stopped_session_started_again_binds_again(smscs: MakeSmsc) -> None:
    """As when a worker loses its bind's lease and takes it back: stop, then start."""
    smsc = smscs()
    session = Session(config(smsc), acknowledge)

    async def work(session: Session) -> list[int | None]:
        await session.stop()
        assert session.state is SessionState.STOPPED
        session.start()
        await until(lambda: session.is_bound)
        return await submit_all(session, 3)

    assert run(session, work) == [CommandStatus.ESME_ROK] * 3
    assert smsc.stats()["binds"] == 2


def test_bad_password_is_refused_and_retried_with_backoff(smscs: MakeSmsc) -> None:
    smsc = smscs()
    session = Session(
        config(smsc, password="wrong", reconnect_delay=0.1, reconnect_max_delay=0.4), acknowledge
    )
    failed_at: list[float] = []

    async def work(session: Session) -> None:
        while len(failed_at) < 6:
            if session.counters.bind_failures > len(failed_at):
                failed_at.append(time.monotonic())
            await asyncio.sleep(0.002)
        assert not session.is_bound
        (reply,) = await asyncio.gather(*session.submit([submit_sm()]))
        assert reply.status is None, reply

    run(session, work, bind=False)
    assert "ESME_RINVPASWD" in session.last_error
    assert smsc.stats()["bind_refused"] >= 6
    # The waits double from 0.1 s up to 0.4 s (each up to a fifth shorter: jitter), plus a
    # bind's round trip.
    gaps = [later - earlier for earlier, later in itertools.pairwise(failed_at)]
    assert 0.08 <= gaps[0] < 0.25 and gaps[2] >= 0.3, gaps
    assert all(gap < 0.8 for gap in gaps), gaps


def test_binds_the_smsc_drops_at_once_back_off_like_refused_ones(smscs: MakeSmsc) -> None:
    """An SMSC that grants each bind and closes it at once (too many binds, an address it
    refuses) is not rebound at the first delay for ever."""
    smsc = smscs(drop_after_bind=True)
    session = Session(config(smsc, reconnect_delay=0.05, reconnect_max_delay=0.4), acknowledge)

    async def work(session: Session) -> None:
        await asyncio.sleep(1.5)

    run(session, work, bind=False)
    # Waits of 0.1, 0.2, 0.4, 0.4, ... (less a fifth at most): 5 or 6 binds in 1.5 s. At the
    # first delay each time, there were about 25.
    assert 3 <= smsc.stats()["binds"] <= 8, smsc.stats()


def test_window_is_never_exceeded(smscs: MakeSmsc) -> None:
    smsc = smscs(resp_delay=20)
    statuses = run(Session(config(smsc, window=7), acknowledge), lambda s: submit_all(s, 200))
    assert statuses == [CommandStatus.ESME_ROK] * 200
    # Exactly the window: it filled up, and never held one more.
    assert smsc.stats()["max_in_flight"] == 7


def test_tps_limit_holds_submits_back(smscs: MakeSmsc) -> None:
    smsc = smscs()
    started = time.monotonic()
    statuses = run(Session(config(smsc, tps=100), acknowledge), lambda s: submit_all(s, 150))
    elapsed = time.monotonic() - started
    assert statuses == [CommandStatus.ESME_ROK] * 150
    # 150 at 100/s with a burst of 5: at least 1.45 s
    assert elapsed >= 1.4, elapsed


def test_throttled_submits_are_sent_again_until_taken(smscs: MakeSmsc) -> None:
    smsc = smscs(throttle_percent=30)
    session = Session(config(smsc, throttle_delay=0.002, throttle_max_delay=0.02), acknowledge)
    statuses = run(session, lambda s: submit_all(s, 300))
    assert statuses == [CommandStatus.ESME_ROK] * 300
    stats = smsc.stats()
    assert stats["accepted"] == 300
    assert stats["throttled"] == session.counters.throttled > 0


def test_an_smsc_at_its_rate_is_sent_at_that_rate(smscs: MakeSmsc) -> None:
    """Each window sent past the SMSC's rate comes back throttled, resp after resp: one
    refusal, which pauses the bind once. Doubled for each, a bind with no TPS of its own sent
    2 parts a second to an SMSC taking 100."""
    smsc = smscs(tps=100)
    session = Session(config(smsc, window=10), acknowledge)

    async def work(session: Session) -> list[int | None]:
        async with asyncio.timeout(15):  # 200 parts at 100 a second, give or take the pauses
            return await submit_all(session, 200)

    assert run(session, work) == [CommandStatus.ESME_ROK] * 200
    assert session.counters.throttled > 0


def test_throttled_submits_are_taken_in_the_order_submitted(smscs: MakeSmsc) -> None:
    """A subscriber's messages (two codes, say) arrive in the order they were sent. Each part
    is refused once: a window of them goes back, and again, in order (it went in reverse)."""
    smsc = smscs(throttle_once=True)
    session = Session(config(smsc, window=10, throttle_delay=0.01), acknowledge)
    assert run(session, lambda s: submit_all(s, 30)) == [CommandStatus.ESME_ROK] * 30
    assert session.counters.throttled == 30
    taken = [message["destination"] for message in smsc.messages()]
    assert taken == [submit_sm(i).destination_addr for i in range(30)]


def test_throttled_past_the_deadline_comes_back_unanswered(smscs: MakeSmsc) -> None:
    smsc = smscs(throttle_percent=100)
    session = Session(config(smsc, throttle_delay=0.01, submit_deadline=0.3), acknowledge)
    reply = run(session, lambda s: s.submit([submit_sm()])[0])
    assert (reply.status, reply.reason) == (None, "throttled too long")
    assert smsc.stats()["accepted"] == 0


def test_a_full_smsc_queue_is_waited_out_like_throttling(smscs: MakeSmsc) -> None:
    smsc = smscs(resp_status=CommandStatus.ESME_RMSGQFUL, resp_body="")
    session = Session(config(smsc, throttle_delay=0.05, throttle_max_delay=0.1), acknowledge)

    async def work(session: Session) -> list[int | None]:
        submitted = asyncio.ensure_future(submit_all(session, 1))
        await until(lambda: session.counters.throttled >= 2)
        smsc.send("set", resp_body=None)  # the queue has room again
        return await submitted

    assert run(session, work) == [CommandStatus.ESME_ROK]
    assert session.counters.rejected == 0


def test_a_part_throttled_past_its_deadline_is_not_sent_again(smscs: MakeSmsc) -> None:
    # Each answer (a throttle) comes 0.6 s late: the second comes after the 1 s deadline,
    # and the part must not go out a third time (each further send could outlive its claim).
    smsc = smscs(throttle_percent=100, resp_delay=600)
    session = Session(config(smsc, throttle_delay=0.01, submit_deadline=1.0), acknowledge)
    reply = run(session, lambda s: s.submit([submit_sm()])[0])
    assert (reply.status, reply.reason) == (None, "throttled too long")
    assert smsc.stats()["submitted"] == 2


def raw_frame(command_id: int, sequence: int, body: bytes) -> str:
    return (
        (16 + len(body)).to_bytes(4, "big")
        + command_id.to_bytes(4, "big")
        + bytes(4)
        + sequence.to_bytes(4, "big")
        + body
    ).hex()


def test_malformed_pdus_are_answered_and_the_session_goes_on(smscs: MakeSmsc) -> None:
    smsc = smscs()
    session = Session(config(smsc), acknowledge)
    injected = [
        raw_frame(0x00000099, RAW + 1, b""),  # an unknown command
        raw_frame(CommandId.DELIVER_SM, RAW + 2, b"abc\0\x01"),  # body ends early
        # sm_length 200 with 2 octets left
        raw_frame(
            CommandId.DELIVER_SM,
            RAW + 3,
            b"\0" * 3 + b"1\0" + b"\0" * 2 + b"2\0" + bytes(3) + b"\0\0" + bytes(4) + b"\xc8hi",
        ),
        raw_frame(CommandId.ENQUIRE_LINK, RAW + 4, b""),  # a good one, answered as usual
    ]

    async def work(session: Session) -> list[int | None]:
        for frame in injected:
            smsc.send("raw", hex=frame)
        await until(lambda: len(smsc.stats()["raw_answers"]) == len(injected))
        return await submit_all(session, 5)

    assert run(session, work) == [CommandStatus.ESME_ROK] * 5
    answers = {a["sequence_number"] - RAW: a for a in smsc.stats()["raw_answers"]}
    assert answers[1]["command"] == "generic_nack"
    assert answers[1]["command_status"] == CommandStatus.ESME_RINVCMDID
    assert answers[2]["command"] == "deliver_sm_resp"
    assert answers[2]["command_status"] == CommandStatus.ESME_RINVCMDLEN
    assert answers[3]["command"] == "deliver_sm_resp"
    assert answers[3]["command_status"] == CommandStatus.ESME_RINVMSGLEN
    assert (answers[4]["command"], answers[4]["command_status"]) == ("enquire_link_resp", 0)
    assert session.counters.binds == 1  # still the first connection


@pytest.mark.parametrize(
    ("status", "body", "reply"),
    [
        (CommandStatus.ESME_ROK, b"12345", (CommandStatus.ESME_ROK, "12345")),  # no NUL
        (CommandStatus.ESME_ROK, b"12345\0\0", (CommandStatus.ESME_ROK, "12345")),  # padding
        # a rejection whose body is a broken TLV
        (CommandStatus.ESME_RINVDSTADR, b"\0\x04\x24\x00", (CommandStatus.ESME_RINVDSTADR, "")),
    ],
)
def test_a_malformed_submit_sm_resp_keeps_its_verdict(
    smscs: MakeSmsc, status: int, body: bytes, reply: tuple[int, str]
) -> None:
    smsc = smscs(resp_status=status, resp_body=body.hex())

    async def work(session: Session) -> tuple[int | None, str]:
        (answer,) = await asyncio.gather(*session.submit([submit_sm()]))
        return answer.status, answer.message_id

    assert run(Session(config(smsc), acknowledge), work) == reply
    assert smsc.stats()["raw_resps"] == 1  # answered once, not submitted again


@pytest.mark.parametrize(
    ("command_id", "status"),
    [
        (CommandId.GENERIC_NACK, CommandStatus.ESME_ROK),  # a nack that names no error
        (CommandId.ENQUIRE_LINK_RESP, CommandStatus.ESME_ROK),  # the resp of another command
        (0x80000099, CommandStatus.ESME_ROK),  # the resp of no command there is: unreadable
    ],
)
def test_a_resp_that_is_no_verdict_on_a_submit_is_not_taken_as_accepted(
    smscs: MakeSmsc, command_id: int, status: int
) -> None:
    smsc = smscs(resp_command_id=int(command_id), resp_status=status, resp_body="")

    async def work(session: Session) -> tuple[int | None, bool]:
        (answer,) = await asyncio.gather(*session.submit([submit_sm()]))
        return answer.status, answer.unanswered

    # Submitted again later and later, as a submit the SMSC got and never answered.
    assert run(Session(config(smsc), acknowledge), work) == (None, True)


def test_a_generic_nack_of_a_submit_is_its_verdict(smscs: MakeSmsc) -> None:
    smsc = smscs(
        resp_command_id=int(CommandId.GENERIC_NACK),
        resp_status=CommandStatus.ESME_RINVCMDLEN,
        resp_body="",
    )

    async def work(session: Session) -> int | None:
        (answer,) = await asyncio.gather(*session.submit([submit_sm()]))
        return answer.status

    assert run(Session(config(smsc), acknowledge), work) == CommandStatus.ESME_RINVCMDLEN


def test_an_overdue_submit_sm_resp_ends_the_connection(smscs: MakeSmsc) -> None:
    smsc = smscs(resp_delay=1500)
    session = Session(config(smsc, response_timeout=0.3), acknowledge)

    async def work(session: Session) -> list[int | None]:
        statuses = await submit_all(session, 3)
        # Not refilled on the link the SMSC still counts them on: a new one is bound.
        await until(lambda: session.counters.binds == 2)
        return statuses

    assert run(session, work) == [None] * 3
    assert session.counters.timed_out >= 1
    assert smsc.stats()["submitted"] == 3


def test_an_overdue_submit_sm_resp_spares_the_submits_in_flight_beside_it(
    smscs: MakeSmsc,
) -> None:
    """The SMSC drops one part (to 79160000000) and answers the others 0.8 s late: those in
    flight when the first is overdue get their resps before the link ends, instead of being
    sent again."""
    smsc = smscs(silent_suffix="0000", resp_delay=800)
    session = Session(config(smsc, response_timeout=1.0), acknowledge)

    async def work(session: Session) -> list[Any]:
        dropped = session.submit([submit_sm(0)])
        await asyncio.sleep(0.6)
        others = session.submit([submit_sm(i) for i in range(1, 6)])
        replies = await asyncio.gather(*dropped, *others)
        await until(lambda: session.counters.binds == 2)  # then the link the SMSC counts it on ends
        return replies

    dropped, *others = run(session, work)
    assert (dropped.status, dropped.reason, dropped.unanswered) == (None, "no submit_sm_resp", True)
    assert [reply.status for reply in others] == [CommandStatus.ESME_ROK] * 5
    assert smsc.stats()["accepted"] == 5


def test_a_stalled_process_does_not_count_its_stall_against_the_smsc(smscs: MakeSmsc) -> None:
    """The process stops running (frozen, SIGSTOP) longer than the response timeout just as
    it submits: on waking, the SMSC's answers cannot have come yet. Counted overdue, the parts
    the SMSC took went out again on the next bind."""
    smsc = smscs(resp_delay=100)
    session = Session(config(smsc, response_timeout=0.5), acknowledge)

    async def work(session: Session) -> list[Any]:
        await asyncio.sleep(0.2)  # the keep-alive is between two ticks
        replies = session.submit([submit_sm(i) for i in range(5)])
        time.sleep(1.5)  # noqa: ASYNC251 - the loop standing still is the test
        return await asyncio.gather(*replies)

    replies = run(session, work)
    assert [reply.status for reply in replies] == [CommandStatus.ESME_ROK] * 5
    assert session.counters.timed_out == 0
    assert (session.counters.binds, smsc.stats()["submitted"]) == (1, 5)


def test_esme_rinvbndsts_binds_again_and_the_part_is_not_failed(smscs: MakeSmsc) -> None:
    smsc = smscs(resp_status=CommandStatus.ESME_RINVBNDSTS, resp_body="")
    session = Session(config(smsc), acknowledge)

    async def work(session: Session) -> list[int | None]:
        statuses = await submit_all(session, 1)
        await until(lambda: session.counters.binds == 2)
        return statuses

    assert run(session, work) == [None]
    assert session.counters.rejected == 0


def test_a_failed_enquire_link_resp_binds_again(smscs: MakeSmsc) -> None:
    smsc = smscs(enquire_status=CommandStatus.ESME_RINVBNDSTS)
    session = Session(config(smsc, enquire_link_interval=0.2), acknowledge)

    async def work(session: Session) -> None:
        await until(lambda: session.counters.binds >= 2)

    run(session, work)


def test_lost_framing_is_nacked_and_the_session_reconnects(smscs: MakeSmsc) -> None:
    smsc = smscs()
    session = Session(config(smsc), acknowledge)

    async def work(session: Session) -> list[int | None]:
        # command_length 8 cannot even hold a header: nothing after it can be framed
        smsc.send("raw", hex=(8).to_bytes(4, "big").hex() + "00000015" + "00000000" + "70000005")
        await until(lambda: session.counters.binds == 2)
        await until(lambda: session.is_bound)
        return await submit_all(session, 3)

    assert run(session, work) == [CommandStatus.ESME_ROK] * 3
    (answer,) = smsc.stats()["raw_answers"]
    assert (answer["command"], answer["command_status"]) == (
        "generic_nack",
        CommandStatus.ESME_RINVCMDLEN,
    )


def test_enquire_link_is_sent_regularly(smscs: MakeSmsc) -> None:
    smsc = smscs()
    session = Session(config(smsc, enquire_link_interval=0.2), acknowledge)
    run(session, lambda s: asyncio.sleep(1.1))
    assert smsc.stats()["enquire_links"] >= 3


def test_an_unbind_from_the_smsc_is_answered_and_the_session_binds_again(
    smscs: MakeSmsc,
) -> None:
    smsc = smscs()
    session = Session(config(smsc), acknowledge)

    async def work(session: Session) -> list[int | None]:
        smsc.send("unbind")
        await until(lambda: session.counters.binds == 2 and session.is_bound)
        return await submit_all(session, 3)

    assert run(session, work) == [CommandStatus.ESME_ROK] * 3
    assert session.counters.disconnects == 1


def test_an_unbind_from_the_smsc_waits_for_the_submits_in_flight(smscs: MakeSmsc) -> None:
    """Their resps come behind the unbind: the connection is not closed under them."""
    smsc = smscs(resp_delay=300)
    session = Session(config(smsc), acknowledge)

    async def work(session: Session) -> list[int | None]:
        replies = session.submit([submit_sm(i) for i in range(3)])
        await until(lambda: session.window_used == 3)
        smsc.send("unbind")
        statuses = [reply.status for reply in await asyncio.gather(*replies)]
        await until(lambda: session.counters.binds == 2 and session.is_bound)
        return statuses

    assert run(session, work) == [CommandStatus.ESME_ROK] * 3
    assert smsc.stats()["accepted"] == 3


def test_an_unbind_from_the_smsc_waits_for_the_incoming_messages_being_handled(
    smscs: MakeSmsc,
) -> None:
    """Unacknowledged, an incoming message is delivered again after the new bind, and
    recorded twice."""
    smsc = smscs()
    started = asyncio.Event()
    slow = slow_handler(started, 0.3)

    async def work(session: Session) -> None:
        smsc.send("mo", id="mo", source="79161234567", destination="1234", text="hi")
        async with asyncio.timeout(10):
            await started.wait()
        smsc.send("unbind")
        await until(lambda: session.counters.binds == 2)

    run(Session(config(smsc), slow), work)
    done = smsc.wait_event(lambda e: e["event"] == "mo_done", timeout=5)
    assert (done["id"], done["statuses"]) == ("mo", [0])


def test_an_alert_notification_is_not_answered(smscs: MakeSmsc) -> None:
    """SMPP 3.4 §4.12: it has no response; a generic_nack would be a protocol error."""
    smsc = smscs()
    alert = b"\x01\x01" + b"79161234567\0" + b"\x01\x01" + b"1234\0"

    async def work(session: Session) -> None:
        smsc.send("raw", hex=raw_frame(0x00000102, RAW + 1, alert))
        smsc.send("raw", hex=raw_frame(CommandId.ENQUIRE_LINK, RAW + 2, b""))
        await until(lambda: len(smsc.stats()["raw_answers"]) >= 1)

    run(Session(config(smsc), acknowledge), work)
    answers = [(a["command"], a["sequence_number"] - RAW) for a in smsc.stats()["raw_answers"]]
    assert answers == [("enquire_link_resp", 2)]


def test_submits_in_flight_when_the_link_drops_come_back_unanswered(smscs: MakeSmsc) -> None:
    smsc = smscs(resp_delay=2000)
    session = Session(config(smsc), acknowledge)

    async def work(session: Session) -> list[Any]:
        replies = session.submit([submit_sm(i) for i in range(5)])
        await until(lambda: session.window_used == 5)
        smsc.kill()
        answered = await asyncio.gather(*replies)
        smsc.restart()
        await until(lambda: session.counters.binds == 2 and session.is_bound)
        return answered

    answered = run(session, work)
    replies = {(reply.status, reply.reason, reply.lost_in_flight) for reply in answered}
    assert replies == {(None, "connection lost", True)}  # the SMSC may have them
    assert session.window_used == 0


def test_deliver_sm_is_acknowledged_only_when_its_handler_is_done(smscs: MakeSmsc) -> None:
    smsc = smscs()
    release = asyncio.Event()
    handled: list[bytes] = []

    async def slow(pdu: DeliverSm | DataSm) -> int:
        await release.wait()
        assert isinstance(pdu, DeliverSm)
        handled.append(pdu.short_message)
        if pdu.short_message == b"fail":
            raise RuntimeError("the database is down")
        return CommandStatus.ESME_ROK

    async def work(session: Session) -> None:
        for text in ("hello", "fail"):
            smsc.send("mo", id=text, source="79161234567", destination="1234", text=text)
        await asyncio.sleep(0.5)
        assert not [e for e in smsc.events if e["event"] == "mo_done"]
        release.set()
        await until(lambda: len([e for e in smsc.events if e["event"] == "mo_done"]) == 2)

    run(Session(config(smsc), slow), work)
    done = {e["id"]: e["statuses"] for e in smsc.events if e["event"] == "mo_done"}
    assert done == {"hello": [0], "fail": [CommandStatus.ESME_RX_T_APPN]}
    assert sorted(handled) == [b"fail", b"hello"]


def test_a_stop_answers_the_incoming_messages_being_handled(smscs: MakeSmsc) -> None:
    # Unbound before their resp, they would be delivered again after the restart.
    smsc = smscs()
    started = asyncio.Event()
    slow = slow_handler(started, 0.5)

    async def main() -> None:
        session = Session(config(smsc), slow)
        session.start()
        try:
            async with asyncio.timeout(10):
                await session.bound.wait()
            smsc.send("mo", id="late", source="79161234567", destination="1234", text="hi")
            async with asyncio.timeout(10):
                await started.wait()
        finally:
            await session.stop()

    asyncio.run(main())
    done = smsc.wait_event(lambda e: e["event"] == "mo_done", timeout=5)
    assert (done["id"], done["statuses"]) == ("late", [0])


def test_tls_bind_verifies_the_smsc_against_a_private_ca(
    smscs: MakeSmsc, certificates: CertificateFiles
) -> None:
    smsc = smscs(tls_cert=certificates.certfile, tls_key=certificates.keyfile)
    trusted = ssl.create_default_context(cafile=certificates.ca_file)
    statuses = run(Session(config(smsc, ssl=trusted), acknowledge), lambda s: submit_all(s, 5))
    assert statuses == [CommandStatus.ESME_ROK] * 5

    untrusted = Session(config(smsc, ssl=ssl.create_default_context()), acknowledge)

    async def refused(session: Session) -> None:
        await until(lambda: "CERTIFICATE_VERIFY_FAILED" in session.last_error)
        assert session.state is not SessionState.BOUND

    run(untrusted, refused, bind=False)
    assert smsc.stats()["binds"] == 1


class FreezingRelay:
    """A TCP relay to ``port`` that can stop relaying (``frozen``): a link gone dead with its
    connections open, as behind a firewall that dropped its state."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.frozen = False
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        to_reader, to_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        for source, sink in ((reader, to_writer), (to_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if not self.frozen:
                    sink.write(data)


def test_a_dead_tls_link_is_down_at_once(smscs: MakeSmsc, certificates: CertificateFiles) -> None:
    """The session closes a link whose enquire_link went unanswered, and over TLS the close
    waits for the peer's answer: 30 s, for a dead one. The bind must not be chosen meanwhile."""
    smsc = smscs(tls_cert=certificates.certfile, tls_key=certificates.keyfile)
    trusted = ssl.create_default_context(cafile=certificates.ca_file)
    relay = FreezingRelay(smsc.port)

    async def main() -> None:
        server = await relay.start()
        settings = config(smsc, ssl=trusted, enquire_link_interval=0.3, response_timeout=0.5)
        session = Session(replace(settings, port=relay.port), acknowledge)
        session.start()
        try:
            async with asyncio.timeout(10):
                await session.bound.wait()
            relay.frozen = True
            await until(lambda: not session.is_bound, seconds=3)
            await until(lambda: session.counters.disconnects == 1, seconds=3)  # and it is cut
        finally:
            await session.stop()
            server.close()

    asyncio.run(main())


def test_raw_frames_are_what_the_codec_writes() -> None:
    assert raw_frame(CommandId.ENQUIRE_LINK, 7, b"") == encode(EnquireLink(), 7).hex()
