from datetime import UTC, datetime, timedelta

import pytest

from smsgate.domain.states import (
    FINAL,
    NOT_SUBMITTED,
    UNKNOWN_STATE_CODE,
    UNKNOWN_STATE_DESCRIPTION,
    WAITING,
    MessageState,
    report_date,
)


@pytest.mark.parametrize(
    ("state", "code", "description", "final"),
    [
        (MessageState.QUEUED, -1, "Queued", False),
        (MessageState.SCHEDULED, -1, "Scheduled", False),
        (MessageState.SUBMITTING, -1, "Queued", False),
        (MessageState.SENT, -1, "Sent", False),
        (MessageState.DELIVERED, 0, "Delivered", True),
        (MessageState.NOT_DELIVERED, 42, "NotDelivered", True),
        (MessageState.EXPIRED, 46, "Expired", True),
    ],
)
def test_api_view_of_states(state: MessageState, code: int, description: str, final: bool) -> None:
    assert state.api_code == code
    assert state.api_description == description
    assert state.is_final is final


def test_every_state_has_an_api_view() -> None:
    assert len(MessageState) == 7
    for state in MessageState:
        assert isinstance(state.api_code, int)
        assert state.api_description


def test_states_are_stored_by_value() -> None:
    assert MessageState("not_delivered") is MessageState.NOT_DELIVERED
    assert str(MessageState.SUBMITTING) == "submitting"


def test_unknown_state() -> None:
    assert UNKNOWN_STATE_CODE == 255
    assert UNKNOWN_STATE_DESCRIPTION == "Unknown"


def test_every_state_is_waiting_in_flight_sent_or_final() -> None:
    assert set(NOT_SUBMITTED) == {*WAITING, MessageState.SUBMITTING}
    assert set(NOT_SUBMITTED) | {MessageState.SENT} | FINAL == set(MessageState)
    assert not set(NOT_SUBMITTED) & FINAL


def test_a_report_is_never_dated_before_its_submit() -> None:
    submitted = datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC)
    # Receipt dates often stop at the minute: this one reads 10:00 for a part sent at 10:00:30.
    assert report_date(submitted.replace(second=0), submitted) == submitted
    later = submitted + timedelta(seconds=5)
    assert report_date(later, submitted) == later
    assert report_date(later, None) == later
