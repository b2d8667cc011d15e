"""Statements run for every row of a batch (``PreparedBatch``): one statement over arrays on
PostgreSQL, ``executemany`` on SQLite; the same outcome on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, select, update

from smsgate.domain.money import MONEY_LIMIT
from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin, AdminError
from smsgate.store.database import Database
from smsgate.store.messages import (
    _APPLY_RECEIPT,
    _PARTS_BY_SMSC_ID,
    _PARTS_OF_RECEIPTS,
    _WAITING_RECEIPTS,
    LATE_SUBMIT_REPORT_WAIT,
    UNCONFIRMED_SUBMIT_KEPT,
    apply_receipts,
    apply_waiting_receipts,
    claim_due,
    expire_sent,
    expired_waiting,
    finish_unsent,
    forget_early_receipts,
    insert_parts,
    record_accepted,
    record_retry,
    release_lapsed_leases,
)
from smsgate.store.schema import early_receipts, messages, push_jobs, simulator_parts
from smsgate.store.simulator import TakenPart, mark_reported, take_parts
from tests.store.parts import part_row
from tests.store.plans import every_index_condition_names, query_plan

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CLAIMED_UNTIL = NOW + timedelta(minutes=1)
CONNECTOR = "main"


def queued_parts(database: Database, count: int) -> list[int]:
    """``count`` one-part messages, queued; their ids (1 to ``count``)."""
    account_id = AccountAdmin(database).create("batch", password="secret-password")
    ids = list(range(1, count + 1))
    rows = [part_row(part_id, account_id, NOW) for part_id in ids]
    database.write_sync(lambda c: insert_parts(c, rows))
    return ids


def record_sent(
    database: Database, accepted: list[tuple[int, str]], submitted_at: datetime = NOW
) -> None:
    """The SMSC took these (part id, its id) of the claim leased until CLAIMED_UNTIL."""
    database.write_sync(
        lambda c: record_accepted(
            c, CONNECTOR, accepted, submitted_at, (), claimed_until=CLAIMED_UNTIL
        )
    )


def states(connection: Connection) -> dict[int, tuple[str, str | None, str | None]]:
    query = select(messages.c.id, messages.c.state, messages.c.smsc_id, messages.c.error)
    return {row[0]: tuple(row[1:]) for row in connection.execute(query)}


def test_a_claimed_part_has_a_callback_only_with_a_callback_url(database: Database) -> None:
    account_id = AccountAdmin(database).create("batch", password="secret-password")
    rows = [
        part_row(1, account_id, NOW),
        part_row(2, account_id, NOW, callback_url="https://hooks.example/status"),
    ]
    database.write_sync(lambda c: insert_parts(c, rows))
    claimed = database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    assert [(part.id, part.has_callback) for part in claimed] == [(1, False), (2, True)]


def test_receipts_in_one_batch_apply_once_each_and_the_first_wins(database: Database) -> None:
    ids = queued_parts(database, 3)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    # Part 3's receipt comes before its submit_sm_resp, twice: it waits, once.
    receipts = [
        ("a1", MessageState.DELIVERED, NOW, None),
        ("a1", MessageState.NOT_DELIVERED, NOW, "late duplicate"),
        ("a2", MessageState.NOT_DELIVERED, NOW, "absent"),
        ("a3", MessageState.DELIVERED, NOW, None),
        ("a3", MessageState.EXPIRED, NOW, "repeated"),
    ]
    accepted = [(ids[1], "a2"), (ids[0], "a1")]  # not in id order
    record_sent(database, accepted)
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, receipts))
    waiting = database.read_sync(
        lambda c: c.execute(select(early_receipts.c.smsc_id, early_receipts.c.state)).all()
    )
    assert [tuple(row) for row in waiting] == [("a3", MessageState.DELIVERED.value)]
    record_sent(database, [(ids[2], "a3")])
    assert database.read_sync(states) == {
        1: (MessageState.DELIVERED.value, "a1", None),
        2: (MessageState.NOT_DELIVERED.value, "a2", "absent"),
        3: (MessageState.DELIVERED.value, "a3", None),
    }
    assert database.read_sync(lambda c: c.execute(select(early_receipts)).all()) == []


def test_a_receipt_waits_for_its_part_though_an_ended_part_had_the_same_id(
    database: Database,
) -> None:
    ids = queued_parts(database, 2)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    # The SMSC gives the id "26" to the first part, and later again to the second (its count
    # restarted, or "1A" in hex is 26): the second's receipt comes before its submit result.
    record_sent(database, [(ids[0], "26")])
    first = ("26", MessageState.DELIVERED, NOW, None)
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [first]))
    later = NOW + timedelta(minutes=5)
    second = ("26", MessageState.NOT_DELIVERED, later, "absent")
    # The first part's receipt once more (a repeat) is dropped; the second's waits.
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [first, second]))
    waiting = database.read_sync(lambda c: c.execute(select(early_receipts.c.state)).all())
    assert [tuple(row) for row in waiting] == [(MessageState.NOT_DELIVERED.value,)]
    record_sent(database, [(ids[1], "26")], later)
    assert database.read_sync(states) == {
        1: (MessageState.DELIVERED.value, "26", None),
        2: (MessageState.NOT_DELIVERED.value, "26", "absent"),
    }


def test_parts_awaiting_reports_under_one_id_take_its_receipts_in_turn(
    database: Database,
) -> None:
    ids = queued_parts(database, 2)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    # The SMSC gave "26" to the first part and, its count restarted, to the second while the
    # first still awaited its report.
    later = NOW + timedelta(minutes=5)
    for part_id, submitted_at in ((ids[0], NOW), (ids[1], later)):
        record_sent(database, [(part_id, "26")], submitted_at)
    first = ("26", MessageState.DELIVERED, later, None)
    # Repeated, in its batch and in the next: it ends the part submitted first, and no other.
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [first, first]))
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [first]))
    assert database.read_sync(states) == {
        1: (MessageState.DELIVERED.value, "26", None),
        2: (MessageState.SENT.value, "26", None),
    }
    second = ("26", MessageState.NOT_DELIVERED, later + timedelta(minutes=1), "absent")
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [second]))
    assert database.read_sync(states)[2] == (MessageState.NOT_DELIVERED.value, "26", "absent")
    assert database.read_sync(lambda c: c.execute(select(early_receipts)).all()) == []


def test_a_receipt_dated_before_the_submit_reports_the_submit_and_its_repeat_is_dropped(
    database: Database,
) -> None:
    ids = queued_parts(database, 2)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    submitted = NOW + timedelta(seconds=40)
    accepted = [(ids[0], "m1"), (ids[1], "m2")]
    record_sent(database, accepted, submitted)
    # The SMSC dates its receipts to the minute: the first reads 40 s before the submit.
    early = ("m1", MessageState.DELIVERED, NOW, None)
    late = ("m2", MessageState.DELIVERED, submitted + timedelta(seconds=20), None)
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [early, late]))
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, [early]))  # a repeat
    reported = database.read_sync(
        lambda c: dict(c.execute(select(messages.c.id, messages.c.reported_at)).all())
    )
    assert reported == {ids[0]: submitted, ids[1]: submitted + timedelta(seconds=20)}
    assert database.read_sync(lambda c: c.execute(select(early_receipts)).all()) == []


def test_receipts_no_submit_result_claimed_are_forgotten_after_a_day(database: Database) -> None:
    ids = queued_parts(database, 1)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    receipts = [
        ("stale", MessageState.DELIVERED, NOW - timedelta(days=2), None),  # nothing of ours
        ("fresh", MessageState.DELIVERED, NOW, None),  # its part's result is on its way
    ]
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, receipts))
    day_ago = NOW - timedelta(days=1)
    assert database.write_sync(lambda c: forget_early_receipts(c, day_ago)) == 1
    record_sent(database, [(ids[0], "fresh")])
    assert database.read_sync(states) == {1: (MessageState.DELIVERED.value, "fresh", None)}
    assert database.read_sync(lambda c: c.execute(select(early_receipts)).all()) == []


def test_a_retry_is_due_no_later_than_the_parts_validity(database: Database) -> None:
    """So the sweep finds it when its validity runs out, not a retry delay later."""
    account_id = AccountAdmin(database).create("retries", password="secret-password")
    rows = [
        part_row(1, account_id, NOW, expires_at=NOW + timedelta(seconds=1)),
        part_row(2, account_id, NOW, expires_at=NOW + timedelta(days=1)),
    ]
    database.write_sync(lambda c: insert_parts(c, rows))
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    retry_at = NOW + timedelta(hours=1)
    database.write_sync(
        lambda c: record_retry(c, [1, 2], retry_at, "no bind up", claimed_until=CLAIMED_UNTIL)
    )
    due = dict(
        database.read_sync(lambda c: c.execute(select(messages.c.id, messages.c.due_at)).all())
    )
    assert due == {1: NOW + timedelta(seconds=1), 2: retry_at}
    later = NOW + timedelta(seconds=2)
    assert database.read_sync(lambda c: expired_waiting(c, later, 10)) == [1]


def test_a_part_the_smsc_may_have_is_not_refunded_when_a_submit_again_is_put_off(
    database: Database,
) -> None:
    """Its dispatcher died after submitting it, past its validity; the submit again was
    throttled. It lost the mark and the sweep refunded it, Expired, while the SMSC had
    delivered it. It is submitted again (not at once) until the SMSC answers, or for a day."""
    account_id = AccountAdmin(database).create("unconfirmed", password="secret-password")
    expires = NOW + timedelta(seconds=1)
    database.write_sync(
        lambda c: insert_parts(c, [part_row(1, account_id, NOW, expires_at=expires)])
    )
    database.write_sync(lambda c: claim_due(c, NOW, NOW + timedelta(seconds=2), 10))
    lapsed = NOW + timedelta(seconds=3)
    assert database.write_sync(lambda c: release_lapsed_leases(c, lapsed)) == 1
    assert database.read_sync(lambda c: expired_waiting(c, lapsed, 10)) == []
    again_until = lapsed + timedelta(minutes=1)
    [claimed] = database.write_sync(lambda c: claim_due(c, lapsed, again_until, 10))
    assert claimed.id == 1  # past its validity
    retry_at = lapsed + timedelta(seconds=5)
    database.write_sync(
        lambda c: record_retry(c, [1], retry_at, "throttled", claimed_until=again_until)
    )
    assert database.read_sync(lambda c: expired_waiting(c, retry_at, 10)) == []
    assert database.write_sync(lambda c: claim_due(c, lapsed, again_until, 10)) == []  # put off
    assert [
        p.id for p in database.write_sync(lambda c: claim_due(c, retry_at, again_until, 10))
    ] == [1]
    database.write_sync(
        lambda c: record_retry(c, [1], retry_at, "throttled", claimed_until=again_until)
    )
    a_day_on = expires + UNCONFIRMED_SUBMIT_KEPT
    assert database.read_sync(lambda c: expired_waiting(c, a_day_on, 10)) == [1]


def test_a_part_submitted_again_past_its_validity_waits_for_its_report(
    database: Database,
) -> None:
    """Expired by the next sweep, it read Expired while the SMSC delivered it."""
    ids = queued_parts(database, 2)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    expires = NOW + timedelta(days=1)
    late = expires + timedelta(seconds=5)
    record_sent(database, [(ids[0], "on-time")])
    record_sent(database, [(ids[1], "late")], submitted_at=late)
    just_after = late + timedelta(seconds=1)
    assert database.write_sync(lambda c: expire_sent(c, just_after)) == 1
    assert database.read_sync(states)[ids[1]][0] == MessageState.SENT.value
    waited = late + LATE_SUBMIT_REPORT_WAIT
    assert database.write_sync(lambda c: expire_sent(c, waited)) == 1
    assert database.read_sync(states)[ids[1]][0] == MessageState.EXPIRED.value


def test_a_receipt_error_longer_than_the_column_is_kept_cut(database: Database) -> None:
    """The error comes from the SMSC's text (``err:...``): any length, early or not."""
    ids = queued_parts(database, 2)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    error = "UNDELIVERABLE err:" + "9" * 300
    record_sent(database, [(ids[0], "b1")])
    receipts = [(smsc_id, MessageState.NOT_DELIVERED, NOW, error) for smsc_id in ("b1", "b2")]
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, receipts))  # b2 comes early
    record_sent(database, [(ids[1], "b2")])
    kept = (MessageState.NOT_DELIVERED.value, error[:200])
    assert {part: row[::2] for part, row in database.read_sync(states).items()} == {
        1: kept,
        2: kept,
    }


def test_simulator_batches_take_count_and_mark(database: Database) -> None:
    due = NOW + timedelta(seconds=1)
    parts = [TakenPart(part_id, f"s{part_id}", "DELIVRD", due, due) for part_id in (7, 5, 6)]
    assert database.write_sync(lambda c: take_parts(c, parts)) == {5: "s5", 6: "s6", 7: "s7"}
    again = [TakenPart(5, "other", None, due, None)]  # a resubmission keeps its first id
    assert database.write_sync(lambda c: take_parts(c, again)) == {5: "s5"}
    database.write_sync(lambda c: mark_reported(c, [6, 5], NOW))
    database.write_sync(lambda c: take_parts(c, []))
    rows = database.read_sync(
        lambda c: c.execute(
            select(
                simulator_parts.c.part_id,
                simulator_parts.c.submissions,
                simulator_parts.c.lease_until,
                simulator_parts.c.reported_at,
            ).order_by(simulator_parts.c.part_id)
        ).all()
    )
    assert [tuple(row) for row in rows] == [
        (5, 2, None, NOW),
        (6, 1, None, NOW),
        (7, 1, due, None),
    ]


def test_a_long_list_of_values_is_looked_up_whole(database: Database) -> None:
    """``PreparedIn``: SQLite goes in padded chunks of 512 values, PostgreSQL in one array."""
    due = NOW + timedelta(seconds=1)
    parts = [TakenPart(part_id, f"s{part_id}", None, due, None) for part_id in range(1, 1_101)]
    taken = database.write_sync(lambda c: take_parts(c, parts))
    assert taken == {part.part_id: part.smsc_id for part in parts}


def test_receipts_never_find_their_parts_by_state_whatever_the_statistics(
    database: Database,
) -> None:
    ids = queued_parts(database, 20_000)
    if database.dialect == "postgresql":
        database.write_sync(lambda c: c.exec_driver_sql("ANALYZE messages"))
    # Every part sent since the statistics were taken: they still say no part is "sent".
    sent = update(messages).values(state=MessageState.SENT.value)
    database.write_sync(lambda c: c.execute(sent))
    batch = ids[:500]
    receipts: dict[str, list[Any]] = {
        "part_id": batch,
        "state": [MessageState.DELIVERED.value] * len(batch),
        "done_at": [NOW] * len(batch),
        "error": [None] * len(batch),
    }
    if database.dialect == "postgresql":
        statement, params = _APPLY_RECEIPT._set_based, receipts
    else:
        statement, params = _APPLY_RECEIPT._per_row, {name: v[0] for name, v in receipts.items()}
    plan = database.read_sync(partial(query_plan, statement=statement, params=params))
    if database.dialect == "postgresql":
        # By the primary key, or (a small table) a hash of all of it: never the state index.
        assert "ix_messages_state_due_at" not in plan, plan
    else:
        assert "USING INTEGER PRIMARY KEY" in plan, plan


def test_receipts_look_up_each_operator_id_whatever_the_statistics(database: Database) -> None:
    ids = queued_parts(database, 20_000)
    if database.dialect == "postgresql":
        database.write_sync(lambda c: c.exec_driver_sql("ANALYZE messages"))
    # Sent since the statistics were taken: they still say no part has an operator id.
    sent = (
        update(messages)
        .where(messages.c.id <= 15_000)
        .values(
            state=MessageState.SENT.value,
            connector=CONNECTOR,
            smsc_id=messages.c.id.cast(messages.c.smsc_id.type),
        )
    )
    database.write_sync(lambda c: c.execute(sent))
    smsc_ids = [str(part_id) for part_id in ids[100:600]]
    if database.dialect == "postgresql":
        statement, params = _PARTS_OF_RECEIPTS, {"smsc_id": smsc_ids, "connector": CONNECTOR}
    else:
        listed = {f"in_{i}": smsc_ids[i] for i in range(8)}
        statement, params = _PARTS_BY_SMSC_ID._by_size[8], {"connector": CONNECTOR, **listed}
    plan = database.read_sync(partial(query_plan, statement=statement, params=params))
    if database.dialect == "postgresql":
        # Not "Index Cond: (connector = ...)" with the ids left to a filter over every part
        # the connector sent.
        assert every_index_condition_names(plan, "smsc_id"), plan
    else:
        assert "connector=? AND smsc_id=?" in plan, plan
    receipts = [(smsc_id, MessageState.DELIVERED, NOW, None) for smsc_id in smsc_ids]
    database.write_sync(lambda c: apply_receipts(c, CONNECTOR, receipts))
    delivered = select(messages.c.id).where(messages.c.state == MessageState.DELIVERED.value)
    assert (
        sorted(database.read_sync(lambda c: c.execute(delivered).scalars().all())) == ids[100:600]
    )


def test_results_of_a_claim_that_lapsed_change_nothing(database: Database) -> None:
    # Dispatcher A's claim lapses while its submit is slow; B claims the part and sends it.
    # A's late results (rejected, retry, accepted) must not end, refund or re-queue B's part.
    admin = AccountAdmin(database)
    account_id = admin.create("lapsed", password="secret-password", balance=Decimal(10))
    row = part_row(1, account_id, NOW, callback_url="http://example.com/cb")
    database.write_sync(lambda c: insert_parts(c, [row]))
    first_until = NOW + timedelta(seconds=1)
    database.write_sync(lambda c: claim_due(c, NOW, first_until, 10))
    later = NOW + timedelta(seconds=2)
    database.write_sync(lambda c: release_lapsed_leases(c, later))
    second_until = later + timedelta(minutes=1)
    database.write_sync(lambda c: claim_due(c, later, second_until, 10))

    def stale_results(connection: Connection) -> int:
        ended = finish_unsent(
            connection, [1], MessageState.NOT_DELIVERED, later, "refused", claimed_until=first_until
        )
        record_retry(connection, [1], later, "throttled", claimed_until=first_until)
        record_accepted(connection, CONNECTOR, [(1, "a-1")], later, {1}, claimed_until=first_until)
        return ended

    def callbacks(connection: Connection) -> list[str]:
        return list(connection.scalars(select(push_jobs.c.state)))

    assert database.write_sync(stale_results) == 0
    assert database.read_sync(states)[1] == (MessageState.SUBMITTING.value, None, None)
    assert Decimal(admin.show("lapsed")["balance"]) == 10
    assert database.read_sync(callbacks) == []  # no change, no callback
    database.write_sync(
        lambda c: record_accepted(
            c, CONNECTOR, [(1, "b-1")], later, {1}, claimed_until=second_until
        )
    )
    assert database.read_sync(states)[1] == (MessageState.SENT.value, "b-1", None)
    assert database.read_sync(callbacks) == [MessageState.SENT.value]


def test_credits_leave_room_under_the_money_limit_for_the_refunds_owed(
    database: Database,
) -> None:
    admin = AccountAdmin(database)
    account_id = admin.create("rich", password="secret-password", balance=Decimal(10))
    database.write_sync(lambda c: insert_parts(c, [part_row(1, account_id, NOW)]))  # 1.5 owed
    room = MONEY_LIMIT - 10 - Decimal("1.5")
    with pytest.raises(AdminError, match="its unsent parts may be refunded"):
        admin.credit("rich", room)
    admin.credit("rich", room - Decimal("0.0001"))
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    ended = database.write_sync(
        lambda c: finish_unsent(
            c, [1], MessageState.NOT_DELIVERED, NOW, "refused", claimed_until=CLAIMED_UNTIL
        )
    )
    assert ended == 1
    assert Decimal(admin.show("rich")["balance"]) == MONEY_LIMIT - Decimal("0.0001")


def test_a_receipt_its_parts_result_missed_is_applied_later(database: Database) -> None:
    # On PostgreSQL a receipt kept by one process while another commits its part's result is
    # seen by neither: the part is sent, its receipt waits. The early receipts' pass applies it.
    ids = queued_parts(database, 2)
    database.write_sync(lambda c: claim_due(c, NOW, CLAIMED_UNTIL, 10))
    record_sent(database, [(ids[0], "r1")])
    kept = [
        {"connector": CONNECTOR, "smsc_id": smsc_id, "state": state, "done_at": NOW, "error": None}
        for smsc_id, state in (("r1", "delivered"), ("r2", "not_delivered"))
    ]
    database.write_sync(lambda c: c.execute(early_receipts.insert(), kept))
    assert database.write_sync(apply_waiting_receipts) == {MessageState.DELIVERED: 1}
    assert database.read_sync(states)[ids[0]] == (MessageState.DELIVERED.value, "r1", None)
    waiting = database.read_sync(lambda c: c.execute(select(early_receipts.c.smsc_id)).all())
    assert [row[0] for row in waiting] == ["r2"]  # its part has no result yet: it waits on


def test_waiting_receipts_find_their_parts_by_operator_id(database: Database) -> None:
    # Every ten seconds on the outcomes' lane: by the state index SQLite read every sent part
    # for each receipt kept (a second for ten receipts among 200,000 sent parts).
    plan = database.read_sync(partial(query_plan, statement=_WAITING_RECEIPTS, params={}))
    assert "ix_messages_state_due_at" not in plan, plan
    if database.dialect == "sqlite":  # PostgreSQL plans an empty table as a scan of it
        assert "ix_messages_connector_smsc_id" in plan, plan
