"""The pusher's pure rules: backoff, giving up, signatures and bodies."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from smsgate.domain.states import MessageState
from smsgate.inbound.pusher import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    PushSettings,
    next_attempt,
    push_body,
    push_headers,
    receiver_origin,
    retry_delay,
    signature,
)
from smsgate.store.incoming import IncomingRow
from smsgate.store.push import PushJob, StatusChange

CREATED = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
MESSAGE = IncomingRow(5126, 7, "Pizza", "79115687451", "2420", "pizza please", CREATED)


def job(
    subject: IncomingRow | StatusChange, attempts: int = 1, secret: str | None = None
) -> PushJob:
    return PushJob(1, 7, "https://example.test/hook", secret, attempts, CREATED, subject)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 1.0, 3600.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 32, 64]
    assert retry_delay(13, 1.0, 3600.0) == 3600
    assert retry_delay(10_000, 1.0, 3600.0) == 3600


def test_retries_go_on_for_a_day_the_last_at_its_end() -> None:
    """README: retried "for 24 hours at most"; a wait of an hour began a minute before the
    end had the last attempt 24 h 59 min after the push was queued."""
    settings = PushSettings()
    failing = job(MESSAGE, attempts=30)
    end = CREATED + timedelta(hours=24)
    assert next_attempt(failing, end - timedelta(hours=2), settings) == end - timedelta(hours=1)
    assert next_attempt(failing, end - timedelta(minutes=1), settings) == end
    assert next_attempt(failing, end, settings) is None
    first = next_attempt(job(MESSAGE, attempts=1), CREATED, settings)
    assert first == CREATED + timedelta(seconds=1)
    # a day of the default schedule is dozens of attempts, so "at least 24 h" is not one retry
    delays, attempts = 0.0, 0
    while delays < 24 * 3600:
        attempts += 1
        delays += retry_delay(attempts, settings.retry_base, settings.retry_cap)
    assert attempts > 30


def test_signature_is_the_hmac_of_the_body() -> None:
    body = b'{"ID":1}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature("key", body) == f"sha256={expected}"


def test_incoming_body_has_the_fields_of_the_incoming_endpoint() -> None:
    body = push_body(job(MESSAGE))
    assert orjson.loads(body) == {
        "Prefix": "Pizza",
        "Data": "pizza please",
        "SourceAddress": "79115687451",
        "DestinationAddress": "2420",
        "ID": 5126,
        "CreatedDateUtc": f"/Date({int(CREATED.timestamp() * 1000)})/",
    }
    # Written as the API writes it, the slashes escaped as the original service escapes them.
    assert f'"CreatedDateUtc":"\\/Date({int(CREATED.timestamp() * 1000)})\\/"'.encode() in body


def test_status_body_reports_the_state_it_changed_to() -> None:
    change = StatusChange(371324579, MessageState.NOT_DELIVERED, CREATED, Decimal("0.5000"))
    assert orjson.loads(push_body(job(change))) == {
        "ID": "371324579",
        "State": 42,
        "StateDescription": "NotDelivered",
        "ReportedDateUtc": f"/Date({int(CREATED.timestamp() * 1000)})/",
        "Price": 0.5,
    }


@pytest.mark.parametrize(
    ("price", "written"),
    [
        ("0.0001", b"0.0001"),
        ("1000.0000", b"1000"),
        ("12345678901234.5678", b"12345678901234.5678"),
    ],
)
def test_status_body_writes_the_price_exactly(price: str, written: bytes) -> None:
    """The largest price the store holds has 18 digits: a float would round it."""
    change = StatusChange(1, MessageState.DELIVERED, CREATED, Decimal(price))
    assert b'"Price":' + written + b"}" in push_body(job(change))


def test_headers_sign_only_with_a_secret() -> None:
    body = push_body(job(MESSAGE))
    unsigned = push_headers(job(MESSAGE), body)
    assert SIGNATURE_HEADER not in unsigned
    assert unsigned[EVENT_HEADER] == "incoming"
    signed = push_headers(job(MESSAGE, secret="s3cret"), body)
    assert signed[SIGNATURE_HEADER] == signature("s3cret", body)
    change = StatusChange(1, MessageState.SENT, CREATED, Decimal(1))
    assert push_headers(job(change), body)[EVENT_HEADER] == "status"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:hunter2@hooks.example:8080/cb?token=s3cr3t", "http://hooks.example:8080"),
        ("https://[2001:db8::1]/path/secret-key", "https://[2001:db8::1]"),
        ("https://hooks.example", "https://hooks.example"),
    ],
)
def test_logs_show_a_receiver_by_its_origin_alone(url: str, shown: str) -> None:
    assert receiver_origin(url) == shown
