"""State and Statistic through the simulated SMSC: states, dates, identities, periods."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.api.helpers import (
    PHONE,
    Deployment,
    api_date,
    assert_error,
    assert_ok,
    creds,
    send_ok,
    state,
    statistic,
    wait_for,
)
from tests.conftest import Account

DELIVERED = "79001234567"
REJECTED = "79001230000"  # the simulator answers NotDelivered
SILENT = "79001239999"  # the simulator never reports
RAW_DATE = re.compile(r'"\\/Date\((\d+)\)\\/"')


def final_state(account: Account, message_id: str, timeout: float = 10) -> dict[str, Any]:
    return wait_for(
        lambda: (found := state(account, message_id))["State"] != -1 and found, timeout=timeout
    )


def test_state_is_minus_one_from_the_moment_the_id_is_answered(
    make_account: Callable[..., Account],
) -> None:
    # the shared server's simulator takes a second to report
    account = make_account()
    (message_id,) = send_ok(account, DELIVERED)
    found = state(account, message_id)
    assert found["State"] == -1
    assert found["StateDescription"] in ("Queued", "Sent")


def test_a_delivered_part_reaches_0(fast: Deployment) -> None:
    account = fast.make_account(price=Decimal("0.5"))
    ids = send_ok(account, DELIVERED, "a" * 161)
    for message_id in ids:
        found = final_state(account, message_id)
        assert found["State"] == 0
        assert found["StateDescription"] == "Delivered"
        assert found["Price"] == 0.5
        assert found["SubmittedDateUtc"] is not None
    stats = statistic(account)
    assert (stats["Sent"], stats["Delivered"], stats["InProgress"]) == (2, 2, 0)


def test_a_number_ending_0000_reaches_42(fast: Deployment) -> None:
    account = fast.make_account()
    (message_id,) = send_ok(account, REJECTED)
    found = final_state(account, message_id)
    assert (found["State"], found["StateDescription"]) == (42, "NotDelivered")
    stats = statistic(account)
    assert (stats["Sent"], stats["NotDelivered"], stats["Delivered"]) == (1, 1, 0)


def test_a_number_ending_9999_stays_sent(fast: Deployment) -> None:
    account = fast.make_account()
    (message_id,) = send_ok(account, SILENT)

    def submitted() -> dict[str, Any] | None:
        found = state(account, message_id)
        return found if found["SubmittedDateUtc"] is not None else None

    found = wait_for(submitted)
    assert (found["State"], found["StateDescription"]) == (-1, "Sent")
    time.sleep(0.6)  # three simulator delays: still no report
    assert state(account, message_id)["State"] == -1


def test_another_accounts_id_answers_255(fast: Deployment) -> None:
    owner = fast.make_account()
    stranger = fast.make_account()
    (message_id,) = send_ok(owner, DELIVERED)
    assert state(owner, message_id)["State"] in (-1, 0)
    unknown = state(stranger, message_id)
    assert unknown["State"] == 255
    assert unknown["StateDescription"] == "Unknown"
    assert unknown["Price"] == 0
    missing = state(owner, "999999999999")
    assert (missing["State"], missing["StateDescription"]) == (255, "Unknown")
    final_state(owner, message_id)
    assert state(stranger, message_id)["State"] == 255


@pytest.mark.parametrize("decorate", ['"{}"', " {} ", "'{}'", '  "{}"  ', "%22{}%22"])
def test_message_id_with_quotes_or_spaces(fast: Deployment, decorate: str) -> None:
    account = fast.make_account()
    (message_id,) = send_ok(account, SILENT)
    plain = state(account, message_id)
    if decorate.startswith("%"):
        query = f"login={account.login}&pass={account.api_password}&messageId="
        response = account.client.get(f"/rest/State/?{query}{decorate.format(message_id)}")
        found = assert_ok(response)
    else:
        found = state(account, decorate.format(message_id))
    assert found["State"] == plain["State"] == -1
    assert found["CreationDateUtc"] == plain["CreationDateUtc"]


def test_submitted_date_is_null_before_submit_and_dates_render_as_ms(fast: Deployment) -> None:
    account = fast.make_account(price=Decimal("0.25"))
    before = int(datetime.now(UTC).timestamp() * 1000)
    later = api_date(datetime.now(UTC) + timedelta(hours=1))
    (scheduled,) = send_ok(account, DELIVERED, sendDate=later)
    (sent,) = send_ok(account, SILENT)
    after = int(datetime.now(UTC).timestamp() * 1000)

    response = account.client.get("/rest/State/", params={**creds(account), "messageId": scheduled})
    body = assert_ok(response)
    assert list(body) == [
        "State",
        "StateDescription",
        "CreationDateUtc",
        "SubmittedDateUtc",
        "ReportedDateUtc",
        "TimeStampUtc",
        "Price",
    ]
    assert (body["State"], body["StateDescription"]) == (-1, "Scheduled")
    assert body["SubmittedDateUtc"] is None
    assert '"SubmittedDateUtc":null' in response.text
    assert '"Price":0.25' in response.text
    for name in ("CreationDateUtc", "ReportedDateUtc", "TimeStampUtc"):
        match = re.search(f'"{name}":' + RAW_DATE.pattern, response.text)
        assert match, (name, response.text)
        # within the request, allowing for the server's millisecond rounding
        assert before - 1000 <= int(match.group(1)) <= after + 60_000, (name, response.text)
        assert body[name] == f"/Date({match.group(1)})/"

    def submitted() -> str | None:
        text = account.client.get("/rest/State/", params={**creds(account), "messageId": sent}).text
        return text if '"SubmittedDateUtc":null' not in text else None

    text = wait_for(submitted)
    created, submitted_at, reported, _stamp = (int(ms) for ms in RAW_DATE.findall(text))
    assert created <= submitted_at <= reported


def test_statistic_identity_holds_throughout(fast: Deployment) -> None:
    account = fast.make_account()
    send_ok(account, DELIVERED, "a" * 161)  # 2 parts
    send_ok(account, "79161234567")
    send_ok(account, REJECTED)
    send_ok(account, SILENT)

    def settled() -> dict[str, int] | None:
        stats = statistic(account)
        assert stats["Sent"] == 5
        assert stats["Sent"] == (
            stats["Delivered"] + stats["NotDelivered"] + stats["InProgress"] + stats["Expired"]
        )
        assert stats["InProcess"] == stats["InProgress"]
        assert stats["DeliveryRatio"] == round(100 * stats["Delivered"] / 5)
        return stats if stats["Delivered"] == 3 and stats["NotDelivered"] == 1 else None

    stats = wait_for(settled, timeout=10)
    assert stats == {
        "Sent": 5,
        "Delivered": 3,
        "NotDelivered": 1,
        "InProgress": 1,
        "InProcess": 1,
        "Expired": 0,
        "DeliveryRatio": 60,
    }


def test_statistic_counts_only_the_period(fast: Deployment) -> None:
    account = fast.make_account()
    send_ok(account, DELIVERED)
    now = datetime.now(UTC)
    periods = {
        (now - timedelta(days=2), now - timedelta(days=1)): 0,
        (now + timedelta(minutes=5), now + timedelta(days=1)): 0,
        (now - timedelta(minutes=5), now + timedelta(minutes=5)): 1,
    }
    for (start, end), sent in periods.items():
        params = {**creds(account), "startDateTime": api_date(start), "endDateTime": api_date(end)}
        assert assert_ok(account.client.get("/rest/Statistic/", params=params))["Sent"] == sent


def test_statistic_of_nothing_has_ratio_0(make_account: Callable[..., Account]) -> None:
    assert statistic(make_account()) == {
        "Sent": 0,
        "Delivered": 0,
        "NotDelivered": 0,
        "InProgress": 0,
        "InProcess": 0,
        "Expired": 0,
        "DeliveryRatio": 0,
    }


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        ("2026-01-01T00:00:00", "2026-04-01T00:00:01", 2),  # 90 days and a second
        ("2026-01-01T00:00:00", "2026-06-01T00:00:00", 2),
        ("2026-02-01T00:00:00", "2026-01-01T00:00:00", 2),  # end before start
        ("2026-01-01", "2026-01-02", 2),
        ("yesterday", "2026-01-02T00:00", 2),
        ("2026-01-01T00:00", "2026-01-32T00:00", 2),
        ("2026-01-01T00:00:00", "2026-04-01T00:00:00", 0),  # exactly 90 days
        ("2026-01-01 00:00", "2026-01-01 00:00", 0),
    ],
)
def test_statistic_period_rules(
    make_account: Callable[..., Account], start: str, end: str, code: int
) -> None:
    account = make_account()
    params = {**creds(account), "startDateTime": start, "endDateTime": end}
    response = account.client.get("/rest/Statistic/", params=params)
    if code:
        assert_error(response, code)
    else:
        assert assert_ok(response)["Sent"] == 0


@pytest.mark.parametrize("missing", ["startDateTime", "endDateTime"])
def test_statistic_without_a_bound_is_code_1(
    make_account: Callable[..., Account], missing: str
) -> None:
    account = make_account()
    params = {
        **creds(account),
        "startDateTime": "2026-01-01T00:00",
        "endDateTime": "2026-01-02T00:00",
    }
    del params[missing]
    assert_error(
        account.client.get("/rest/Statistic/", params=params),
        1,
        f"{missing} can not be null or empty",
    )


def test_state_without_message_id_is_code_1(make_account: Callable[..., Account]) -> None:
    account = make_account()
    response = account.client.get("/rest/State/", params=creds(account))
    assert_error(response, 1, "messageId can not be null or empty")


def test_phone_is_the_one_sent_to(fast: Deployment) -> None:
    account = fast.make_account()
    (message_id,) = send_ok(account, f"+{PHONE}")
    assert final_state(account, message_id)["State"] == 0


def test_a_period_ending_at_a_second_covers_that_whole_second(fast: Deployment) -> None:
    # Dates come to the second while parts are timed to the microsecond: an end naming the
    # second a part was created in counts it (it was left out before, as the report was).
    account = fast.make_account()
    (message_id,) = send_ok(account, DELIVERED)
    created = re.fullmatch(r"/Date\((\d+)\)/", state(account, message_id)["CreationDateUtc"])
    assert created is not None
    second = datetime.fromtimestamp(int(created[1]) // 1000, UTC)
    period = {
        **creds(account),
        "startDateTime": api_date(second - timedelta(minutes=1)),
        "endDateTime": api_date(second),
    }
    figures = assert_ok(account.client.get("/rest/Statistic/", params=period))
    assert figures["Sent"] == 1
