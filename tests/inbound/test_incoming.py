"""Incoming messages through a real server: routing, storing, joining, and ``/rest/Incoming``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from smsgate.domain.segments import segment_text
from smsgate.services.accounts import AdminError
from smsgate.services.incoming import INCOMING_PAGE_ROWS
from smsgate.store.schema import accounts, incoming_messages
from tests.api.helpers import assert_error, assert_ok, creds, wait_for
from tests.inbound.helpers import (
    SENDER_PHONE,
    Inbound,
    api_moment,
    incoming,
    parse_api_date,
    unique_number,
    wait_incoming,
)


def test_prefix_routing_on_a_shared_number(inbound_server: Inbound) -> None:
    number = unique_number()
    whole, pizza, taxi = (inbound_server.account() for _ in range(3))
    admin = inbound_server.admin
    admin.add_number(whole.login, number)
    admin.add_number(pizza.login, number, prefix="Pizza")
    admin.add_number(taxi.login, number, prefix="taxi")
    texts = ["pizza margherita", "PIZZA, two", "Taxi to the station", "hello", "pizzeria?"]
    for text in texts:
        inbound_server.inject(number, text)

    got_pizza = wait_incoming(pizza, 2)
    got_taxi = wait_incoming(taxi, 1)
    got_whole = wait_incoming(whole, 2)
    assert [(m["Prefix"], m["Data"]) for m in got_pizza] == [
        ("Pizza", "pizza margherita"),
        ("Pizza", "PIZZA, two"),
    ]
    assert [(m["Prefix"], m["Data"]) for m in got_taxi] == [("taxi", "Taxi to the station")]
    assert [(m["Prefix"], m["Data"]) for m in got_whole] == [("", "hello"), ("", "pizzeria?")]
    for message in got_pizza + got_taxi + got_whole:
        assert message["DestinationAddress"] == number
        assert message["SourceAddress"] == SENDER_PHONE
        assert isinstance(message["ID"], int)


def test_unrouted_messages_are_kept(inbound_server: Inbound) -> None:
    keyword_only, nobodys = unique_number(), unique_number()
    owner = inbound_server.account()
    inbound_server.admin.add_number(owner.login, keyword_only, prefix="vote")
    inbound_server.inject(keyword_only, "hello there")
    inbound_server.inject(nobodys, "anyone?")
    inbound_server.inject(keyword_only, "VOTE 3")

    assert [m["Data"] for m in wait_incoming(owner, 1)] == ["VOTE 3"]

    def unrouted_here() -> list[dict[str, Any]]:
        found = inbound_server.admin.unrouted()
        here = [m for m in found if m["destination"] in (keyword_only, nobodys)]
        return here if len(here) == 2 else []

    unrouted = wait_for(unrouted_here)
    assert sorted((m["destination"], m["text"]) for m in unrouted) == sorted(
        [(keyword_only, "hello there"), (nobodys, "anyone?")]
    )
    listed = inbound_server.cli("admin", "inbound", "unrouted")
    assert listed.returncode == 0, listed.stderr
    assert {(m["destination"], m["text"]) for m in orjson.loads(listed.stdout)} >= {
        (keyword_only, "hello there"),
        (nobodys, "anyone?"),
    }


def test_incoming_answers_exactly_the_callers_messages_of_the_period(
    inbound_server: Inbound,
) -> None:
    mine_number, theirs_number = unique_number(), unique_number()
    me, other = inbound_server.account(), inbound_server.account()
    inbound_server.admin.add_number(me.login, mine_number)
    inbound_server.admin.add_number(other.login, theirs_number)

    def inject_and_wait(text: str, expected: int) -> None:
        inbound_server.inject(mine_number, text)
        wait_incoming(me, expected)
        time.sleep(0.01)

    inject_and_wait("before", 1)
    start = datetime.now(UTC)
    inject_and_wait("first", 2)
    inbound_server.inject(theirs_number, "someone else's")
    wait_incoming(other, 1)
    inject_and_wait("second", 3)
    end = datetime.now(UTC)
    inject_and_wait("after", 4)

    period = incoming(me, start, end)
    assert [m["Data"] for m in period] == ["first", "second"]
    for message in period:
        assert list(message) == [
            "Prefix",
            "Data",
            "SourceAddress",
            "DestinationAddress",
            "ID",
            "CreatedDateUtc",
        ]
        created = parse_api_date(message["CreatedDateUtc"])  # to the millisecond
        assert start - timedelta(milliseconds=1) < created <= end
    assert [m["Data"] for m in incoming(other, start, end)] == ["someone else's"]
    assert incoming(me, end, end) == []


def test_incoming_parameters(inbound_server: Inbound) -> None:
    account = inbound_server.account()
    client = account.client
    now = api_moment(datetime.now(UTC))
    assert_error(
        client.get("/rest/Incoming/", params={**creds(account), "maxDateUTC": now}),
        1,
        "minDateUTC can not be null or empty",
    )
    assert_error(
        client.get("/rest/Incoming", params={**creds(account), "minDateUTC": now}),
        1,
        "maxDateUTC can not be null or empty",
    )
    bad = {**creds(account), "minDateUTC": "yesterday", "maxDateUTC": now}
    assert_error(client.get("/rest/Incoming/", params=bad), 2)
    backwards = {**creds(account), "minDateUTC": "2024-02-01 00:00", "maxDateUTC": "2024-01-31"}
    assert_error(client.get("/rest/Incoming/", params=backwards), 2)
    assert_error(client.get("/rest/Incoming/", params={"minDateUTC": now, "maxDateUTC": now}), 1)
    period = {**creds(account), "minDateUTC": "2024-01-01 00:00", "maxDateUTC": "2024-01-02T00:00"}
    assert assert_ok(client.post("/rest//Incoming//", data=period)) == []


def test_a_period_of_many_pages_is_answered_whole_as_it_is_read(inbound_server: Inbound) -> None:
    account = inbound_server.account()
    database = inbound_server.deployment.database
    account_id = database.read_sync(
        lambda c: c.execute(select(accounts.c.id).where(accounts.c.login == account.login))
    ).scalar_one()
    start = datetime(2025, 3, 1, tzinfo=UTC)
    count = 2 * INCOMING_PAGE_ROWS + 7

    def message(text: str, created_at: datetime) -> dict[str, Any]:
        return {
            "account_id": account_id,
            "prefix": "",
            "source": SENDER_PHONE,
            "destination": "2420",
            "text": text,
            "connector": "test",
            "created_at": created_at,
        }

    # Three messages a second: pages end within a second, where the id tells them apart.
    rows = [message(f"m{i}", start + timedelta(seconds=i // 3)) for i in range(count)]
    rows += [message("before", start - timedelta(seconds=1))]
    rows += [message("after", start + timedelta(days=1, seconds=1))]
    database.write_sync(lambda c: c.execute(incoming_messages.insert(), rows))
    period = {"minDateUTC": "2025-03-01T00:00:00", "maxDateUTC": "2025-03-02T00:00:00"}
    response = account.client.get("/rest/Incoming/", params={**creds(account), **period})
    assert response.status_code == 200
    assert "content-length" not in response.headers  # sent page by page
    answered = orjson.loads(response.content)
    assert [m["Data"] for m in answered] == [f"m{i}" for i in range(count)]
    assert len({m["ID"] for m in answered}) == count


@pytest.mark.parametrize(
    "text",
    [
        "".join(f"{i:03d} three-part GSM text. " for i in range(18))[:400],
        "Привет, это входящее из трёх частей. " * 5 + "😀 конец",
    ],
    ids=["gsm7", "ucs2"],
)
def test_a_three_part_message_arrives_as_one(inbound_server: Inbound, text: str) -> None:
    assert len(segment_text(text).parts) == 3
    number = unique_number()
    account = inbound_server.account()
    inbound_server.admin.add_number(account.login, number)
    inbound_server.inject(number, text)
    (message,) = wait_incoming(account, 1)
    assert message["Data"] == text
    time.sleep(0.3)
    assert len(wait_incoming(account, 1)) == 1


def test_simulate_incoming_command(inbound_server: Inbound) -> None:
    number = unique_number()
    account = inbound_server.account()
    inbound_server.admin.add_number(account.login, number)
    done = inbound_server.cli(
        "simulate", "incoming", "--from", "+7 911 000-11-22", "--to", number, "--text", "hi"
    )
    assert done.returncode == 0, done.stderr
    (message,) = wait_incoming(account, 1)
    assert (message["SourceAddress"], message["Data"]) == ("+7 911 000-11-22", "hi")

    refused = inbound_server.cli("simulate", "incoming", "--from", "1", "--to", "x", "--text", "")
    assert refused.returncode == 1
    assert "not an incoming number" in refused.stderr
    too_long = inbound_server.cli(
        "simulate", "incoming", "--from", "1", "--to", number, "--text", "x" * 2000
    )
    assert too_long.returncode == 1
    assert "too long" in too_long.stderr


def test_admin_of_incoming_numbers(inbound_server: Inbound) -> None:
    number = unique_number()
    first, second = inbound_server.account(), inbound_server.account()
    admin = inbound_server.admin
    admin.add_number(first.login, number)
    admin.add_number(first.login, number, prefix="Info")
    with pytest.raises(AdminError, match="already belongs to"):
        admin.add_number(second.login, number)
    with pytest.raises(AdminError, match="already belongs to"):
        admin.add_number(second.login, number, prefix="INFO")
    with pytest.raises(AdminError, match="no such account"):
        admin.add_number("nobody-at-all", unique_number())
    with pytest.raises(AdminError, match="not an incoming number"):
        admin.add_number(first.login, "short code")
    with pytest.raises(AdminError, match="one word"):
        admin.add_number(first.login, number, prefix="two words")
    admin.add_number(second.login, number, prefix="news")
    assert admin.list_numbers(first.login) == [
        {"login": first.login, "number": number, "prefix": ""},
        {"login": first.login, "number": number, "prefix": "Info"},
    ]
    admin.remove_number(first.login, number, prefix="info")
    with pytest.raises(AdminError, match="does not own"):
        admin.remove_number(first.login, number, prefix="news")
    listed = inbound_server.cli("admin", "inbound", "list", second.login)
    assert listed.returncode == 0, listed.stderr
    assert orjson.loads(listed.stdout) == [
        {"login": second.login, "number": number, "prefix": "news"}
    ]
    added = inbound_server.cli("admin", "inbound", "add", second.login, number, "--prefix", "info")
    assert added.returncode == 0, added.stderr
    assert f"{number} with prefix 'info' routed to {second.login}" in added.stdout
    digits = unique_number()
    spelled = f"+{digits[0]} ({digits[1:4]}) {digits[4:7]}-{digits[7:9]}-{digits[9:]}"
    long_number = inbound_server.cli("admin", "inbound", "add", second.login, spelled)
    assert long_number.returncode == 0, long_number.stderr
    assert f"{digits} routed to {second.login}" in long_number.stdout
    removed = inbound_server.cli("admin", "inbound", "remove", second.login, number)
    assert removed.returncode == 1
    assert "does not own" in removed.stderr
