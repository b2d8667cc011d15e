"""Which part a delivery report ends (``match_receipts``), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smsgate.domain.receipts import PartUnderId, match_receipts
from smsgate.domain.states import MessageState

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DELIVERED = MessageState.DELIVERED
NOT_DELIVERED = MessageState.NOT_DELIVERED


def test_a_receipt_ends_the_part_awaiting_it_dated_not_before_its_submission() -> None:
    parts = [("A1", PartUnderId(7, T0))]
    # Receipt dates often stop at the minute: earlier than the submission, it is dated then.
    matching = match_receipts([("A1", DELIVERED, T0 - timedelta(seconds=30), None)], parts)
    assert matching.ended == {7: (DELIVERED, T0, None)}
    assert matching.early == []


def test_parts_under_one_id_take_its_receipts_in_the_order_they_were_submitted() -> None:
    later, earlier = PartUnderId(9, T0 + timedelta(seconds=5)), PartUnderId(8, T0)
    receipts = [
        ("X", NOT_DELIVERED, T0 + timedelta(minutes=1), "UNDELIV"),
        ("X", DELIVERED, T0 + timedelta(minutes=2), None),
    ]
    matching = match_receipts(receipts, [("X", later), ("X", earlier)])
    assert matching.ended == {
        8: (NOT_DELIVERED, T0 + timedelta(minutes=1), "UNDELIV"),
        9: (DELIVERED, T0 + timedelta(minutes=2), None),
    }


def test_a_repeated_receipt_ends_no_second_part() -> None:
    done = T0 + timedelta(minutes=1)
    receipt = ("X", DELIVERED, done, None)
    # The same receipt twice in one batch, and again after its part ended.
    twice = match_receipts(
        [receipt, receipt], [("X", PartUnderId(1, T0)), ("X", PartUnderId(2, T0))]
    )
    assert twice.ended == {1: (DELIVERED, done, None)}
    again = match_receipts([receipt], [("X", PartUnderId(1, T0, reported_at=done))])
    assert again.ended == {} and again.early == []


def test_a_receipt_for_no_part_awaiting_one_waits_for_its_part() -> None:
    receipt = ("NEW", DELIVERED, T0, None)
    # Its id is unknown, or was given before to a part that ended at another time.
    assert match_receipts([receipt], []).early == [receipt]
    ended_before = ("NEW", PartUnderId(3, T0 - timedelta(days=1), T0 - timedelta(hours=23)))
    matching = match_receipts([receipt], [ended_before])
    assert matching.ended == {} and matching.early == [receipt]
