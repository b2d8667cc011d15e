"""Multi-part incoming messages: each part durable on its own, the message recorded whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select

from smsgate.delivery.connector import IncomingPart, IncomingSms
from smsgate.inbound.fragments import STALE_AFTER, stale_messages, whole_messages
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from smsgate.store.schema import incoming_fragments

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# "Hi 😀!" in UTF-16-BE, cut inside the surrogate pair of the emoji
WHOLE = "Hi 😀!".encode("utf-16-be")
CUTS = (WHOLE[:8], WHOLE[8:])


def incoming_part(
    seqnum: int, body: bytes, *, reference: int = 7, at: datetime = NOW
) -> IncomingPart:
    return IncomingPart("op", "79115687451", "1234", reference, 2, seqnum, 8, body, at)


def opened(database_url: str) -> Database:
    """The store as a process starting on ``database_url`` opens it."""
    found = Database(database_url)
    upgrade(found.write_engine)
    return found


def stored(connection: Connection) -> int:
    """The parts waiting for the rest of their message (not those of joined messages)."""
    waiting = select(func.count()).where(incoming_fragments.c.joined_at.is_(None))
    return int(connection.execute(waiting).scalar_one())


def test_parts_survive_a_restart_and_join_when_the_last_one_comes(database_url: str) -> None:
    first = opened(database_url)
    assert first.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1]))) == []
    first.close()  # the process ends between the parts

    second = opened(database_url)
    # the SMSC sends part 2 again (our ack was lost): it replaces its copy
    assert second.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1]))) == []
    joined = second.write_sync(lambda c: whole_messages(c, incoming_part(1, CUTS[0])))
    assert joined == [IncomingSms("op", "79115687451", "1234", "Hi 😀!", NOW)]
    assert second.read_sync(stored) == 0


def test_parts_of_other_messages_wait_apart(database: Database) -> None:
    assert (
        database.write_sync(lambda c: whole_messages(c, incoming_part(1, CUTS[0], reference=1)))
        == []
    )
    assert (
        database.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1], reference=2)))
        == []
    )
    assert database.read_sync(stored) == 2


def test_a_message_whose_parts_stopped_coming_is_joined_from_those_there_are(
    database: Database,
) -> None:
    hello = "Hello".encode("utf-16-be")
    assert (
        database.write_sync(lambda c: whole_messages(c, incoming_part(1, hello, reference=1))) == []
    )
    later = NOW + STALE_AFTER + timedelta(seconds=1)
    # Another message's part looks at its own message only (every part kept was scanned).
    found = database.write_sync(
        lambda c: whole_messages(c, incoming_part(1, CUTS[0], reference=2, at=later))
    )
    assert found == []
    # Received when joined by the sweep: a client reading the latest incoming finds it.
    joined = database.write_sync(lambda c: stale_messages(c, later))
    assert joined == [IncomingSms("op", "79115687451", "1234", "Hello", later)]
    assert database.read_sync(stored) == 1  # the new message's part


def test_a_last_part_that_comes_late_completes_its_message(database: Database) -> None:
    assert database.write_sync(lambda c: whole_messages(c, incoming_part(1, CUTS[0]))) == []
    later = NOW + STALE_AFTER + timedelta(seconds=1)
    found = database.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1], at=later)))
    assert found == [IncomingSms("op", "79115687451", "1234", "Hi 😀!", later)]
    assert database.read_sync(stored) == 0


def test_a_stale_part_of_the_same_number_starts_a_new_message(database: Database) -> None:
    hello = "Hello".encode("utf-16-be")
    assert database.write_sync(lambda c: whole_messages(c, incoming_part(1, hello))) == []
    later = NOW + STALE_AFTER + timedelta(seconds=1)
    # The reference came round again: the old message is joined as it is, not mixed in.
    found = database.write_sync(lambda c: whole_messages(c, incoming_part(1, CUTS[0], at=later)))
    assert found == [IncomingSms("op", "79115687451", "1234", "Hello", later)]
    joined = database.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1], at=later)))
    assert joined == [IncomingSms("op", "79115687451", "1234", "Hi 😀!", later)]


def test_messages_whose_parts_stopped_coming_are_joined_without_another_part(
    database: Database,
) -> None:
    other = IncomingPart("other", "79115687452", "5678", 3, 2, 2, 8, CUTS[1], NOW)
    database.write_sync(lambda c: whole_messages(c, incoming_part(1, CUTS[0])))
    database.write_sync(lambda c: whole_messages(c, other))
    assert database.write_sync(lambda c: stale_messages(c, NOW + STALE_AFTER / 2)) == []
    later = NOW + STALE_AFTER + timedelta(seconds=1)
    found = database.write_sync(lambda c: stale_messages(c, later))
    assert sorted(found, key=lambda message: message.connector) == [
        # each half of the cut emoji: U+FFFD
        IncomingSms("op", "79115687451", "1234", "Hi \ufffd", later),
        IncomingSms("other", "79115687452", "5678", "\ufffd!", later),
    ]
    assert database.read_sync(stored) == 0
    assert database.write_sync(lambda c: stale_messages(c, later)) == []


def test_a_copy_of_a_part_of_a_joined_message_is_dropped(database: Database) -> None:
    database.write_sync(lambda c: whole_messages(c, incoming_part(1, CUTS[0])))
    assert database.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1]))) == [
        IncomingSms("op", "79115687451", "1234", "Hi 😀!", NOW)
    ]
    # The SMSC sends the last part again (our acknowledgement was lost), then, later, the
    # message's sender sends a new message that reuses the reference.
    soon = NOW + timedelta(seconds=30)
    assert (
        database.write_sync(lambda c: whole_messages(c, incoming_part(2, CUTS[1], at=soon))) == []
    )
    assert database.read_sync(stored) == 0
    other = "Ok".encode("utf-16-be")
    assert database.write_sync(lambda c: whole_messages(c, incoming_part(2, other, at=soon))) == []
    assert database.read_sync(stored) == 1
    # The joined message's parts are forgotten once stale; nothing else is recorded then.
    later = soon + STALE_AFTER + timedelta(seconds=1)
    assert database.write_sync(lambda c: stale_messages(c, later)) == [
        IncomingSms("op", "79115687451", "1234", "Ok", later)
    ]
    everything = select(func.count()).select_from(incoming_fragments)
    assert database.read_sync(lambda c: c.execute(everything).scalar_one()) == 1  # marked joined
    assert database.write_sync(lambda c: stale_messages(c, later + STALE_AFTER * 2)) == []
    assert database.read_sync(lambda c: c.execute(everything).scalar_one()) == 0
