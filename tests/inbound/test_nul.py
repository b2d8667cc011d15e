"""An incoming message whose text holds U+0000 (NUL) is stored on every backend, each NUL
replaced by U+FFFD (PostgreSQL text cannot hold NUL); the message is never dropped, nor one
whose parts stopped coming."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from smsgate.delivery.connector import IncomingPart, IncomingSms
from smsgate.delivery.smpp.text import DataCoding
from smsgate.inbound.fragments import STALE_AFTER
from smsgate.inbound.incoming import IncomingRecorder
from smsgate.inbound.pusher import Pusher, PushSettings
from smsgate.store.database import Database
from smsgate.store.schema import incoming_messages
from tests.inbound.helpers import SENDER_PHONE, unique_number

CONNECTOR = "smpp-test"


def _record(database: Database, deliver: Callable[[IncomingRecorder], Awaitable[None]]) -> None:
    async def scenario() -> None:
        await deliver(IncomingRecorder(database, Pusher(database, PushSettings())))

    asyncio.run(scenario())


def _stored_texts(database: Database, number: str) -> list[str]:
    query = select(incoming_messages.c.text).where(incoming_messages.c.destination == number)
    return database.read_sync(lambda connection: list(connection.scalars(query)))


def test_a_message_with_nul_is_stored_with_u_fffd(database: Database) -> None:
    number = unique_number()
    message = IncomingSms(CONNECTOR, SENDER_PHONE, number, "\x00a\x00\nb\x00", datetime.now(UTC))
    _record(database, lambda recorder: recorder.incoming(message))
    assert _stored_texts(database, number) == ["\ufffda\ufffd\nb\ufffd"]


def test_a_long_message_with_nul_is_stored_with_u_fffd_once_joined(database: Database) -> None:
    number = unique_number()
    now = datetime.now(UTC)
    bodies = ["Part\x00one, ".encode("utf-16-be"), "part two\x00".encode("utf-16-be")]
    parts = [
        IncomingPart(CONNECTOR, SENDER_PHONE, number, 7, 2, seqnum, DataCoding.UCS2, body, now)
        for seqnum, body in enumerate(bodies, start=1)
    ]

    async def deliver(recorder: IncomingRecorder) -> None:
        for part in parts:
            await recorder.incoming_part(part)

    _record(database, deliver)
    assert _stored_texts(database, number) == ["Part\ufffdone, part two\ufffd"]


def test_the_recorder_records_a_message_whose_parts_stopped_coming(database: Database) -> None:
    number = unique_number()
    long_ago = datetime.now(UTC) - STALE_AFTER - timedelta(seconds=1)
    first = "First\x00 half".encode("utf-16-be")
    part = IncomingPart(CONNECTOR, SENDER_PHONE, number, 9, 2, 1, DataCoding.UCS2, first, long_ago)

    async def deliver(recorder: IncomingRecorder) -> None:
        await recorder.incoming_part(part)
        assert _stored_texts(database, number) == []
        sweeping = asyncio.create_task(recorder.join_stale(interval=0.01))
        deadline = asyncio.get_running_loop().time() + 5
        while not _stored_texts(database, number):
            assert asyncio.get_running_loop().time() < deadline, "never joined"
            await asyncio.sleep(0.01)
        sweeping.cancel()

    _record(database, deliver)
    assert _stored_texts(database, number) == ["First\ufffd half"]
