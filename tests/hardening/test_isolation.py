"""An account's data is reachable only with its own credentials: every endpoint, called by one
account with another account's ids (and login), answers with the caller's own data only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from smsgate.api.rest.router import ROUTES
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.services.inbound_admin import InboundAdmin
from smsgate.services.reports import NOT_FOUND
from tests.api.helpers import (
    SENDER,
    Deployment,
    api_date,
    assert_error,
    assert_ok,
    send_ok,
    wait_for,
    whole_period,
)
from tests.conftest import Account

PRIVATE_SENDER = "Private A"
PRIVATE_PREFIX = "7999"


@dataclass
class World:
    """Account ``a`` with a part, an incoming message, a report, a private sender name and
    tariff; account ``b`` with passwords of its own and nothing."""

    deployment: Deployment
    a: Account
    b: Account
    part_id: str
    report_id: int

    def get(self, path: str, **params: str) -> Any:
        return self.deployment.client.get(path, params=params)

    def post(self, path: str, **params: str) -> Any:
        return self.deployment.client.post(path, data=params)


def incoming_period() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "minDateUTC": api_date(now - timedelta(days=1)),
        "maxDateUTC": api_date(now + timedelta(days=1)),
    }


@pytest.fixture(scope="module")
def world(shared: Deployment) -> World:
    a = shared.make_account(sender_names=(SENDER, PRIVATE_SENDER))
    shared.admin.set_tariff(a.login, PRIVATE_PREFIX, Decimal("5"))
    b_login = f"other-{uuid.uuid4().hex[:10]}"
    shared.admin.create(
        b_login,
        password="b-password",
        api_password="b-api-password",
        balance=Decimal(500),
        sender_names=[SENDER],
    )
    b = Account(b_login, "b-password", "b-api-password", a.client)
    (part_id,) = send_ok(a)
    number = str(uuid.uuid4().int)[:11]
    InboundAdmin(shared.database).add_number(a.login, number)
    queue_incoming(shared.database, [("79115687451", number, "For A only")])
    client = shared.client
    a_auth = {"login": a.login, "pass": a.api_password}
    wait_for(
        lambda: assert_ok(client.get("/rest/Incoming/", params={**a_auth, **incoming_period()}))
    )
    report = client.get("/rest/Statistic/all_stat.php", params={**a_auth, **whole_period()})
    return World(shared, a, b, part_id, int(assert_ok(report)))


Check = Callable[[World, dict[str, str]], None]
CHECKS: dict[str, Check] = {}


def check(endpoint: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[endpoint] = function
        return function

    return register


@check("session")
def _session(world: World, auth: dict[str, str]) -> None:
    # b's password does not open a's account.
    response = world.get("/rest/Session/", login=world.a.login, password=world.b.password)
    assert_error(response, 4)


@check("balance")
def _balance(world: World, auth: dict[str, str]) -> None:
    assert assert_ok(world.get("/rest/Balance/", **auth)) == 500


@check("price_list")
def _price_list(world: World, auth: dict[str, str]) -> None:
    prices = assert_ok(world.get("/rest/Balance/price_list.php", **auth))
    assert PRIVATE_PREFIX not in prices["sms"], prices


@check("originator")
def _originator(world: World, auth: dict[str, str]) -> None:
    assert assert_ok(world.get("/rest/Statistic/originator.php", **auth)) == [SENDER]


def _sending(path: str, **params: str) -> Check:
    """b cannot send under a's sender name (nor is anything billed to a)."""

    def attempt(world: World, auth: dict[str, str]) -> None:
        response = world.post(path, **auth, sourceAddress=PRIVATE_SENDER, **params)
        assert_error(response, 6)

    return attempt


tomorrow = api_date(datetime.now(UTC) + timedelta(days=1))
check("send_sms")(_sending("/rest/Send/SendSms/", destinationAddress="79001234567", data="x"))
check("send_by_time")(
    _sending(
        "/rest/Send/SendByTime/", destinationAddress="79001234567", data="x", sendDate=tomorrow
    )
)
check("send_bulk")(_sending("/rest/Send/SendBulk/", destinationAddresses="79001234567", data="x"))
check("send_bulk_packet")(
    _sending(
        "/rest/Send/SendBulkPacket/", phone_data='{"sms":[{"phone":"79001234567","text":"x"}]}'
    )
)


@check("state")
def _state(world: World, auth: dict[str, str]) -> None:
    found = assert_ok(world.get("/rest/State/", **auth, messageId=world.part_id))
    assert (found["State"], found["StateDescription"]) == (255, "Unknown"), found


@check("statistic")
def _statistic(world: World, auth: dict[str, str]) -> None:
    figures = assert_ok(world.get("/rest/Statistic/", **auth, **whole_period()))
    assert figures["Sent"] == 0, figures


@check("incoming")
def _incoming(world: World, auth: dict[str, str]) -> None:
    assert assert_ok(world.get("/rest/Incoming/", **auth, **incoming_period())) == []


@check("all_stat")
def _all_stat(world: World, auth: dict[str, str]) -> None:
    response = world.get("/rest/Statistic/all_stat.php", **auth, id_report=str(world.report_id))
    assert_error(response, 2, NOT_FOUND)


def test_every_endpoint_is_walked() -> None:
    assert {endpoint.__name__ for endpoint in ROUTES.values()} == set(CHECKS)


@pytest.mark.parametrize("by", ["sessionId", "login+pass"])
def test_another_accounts_ids_reach_only_the_callers_own_data(world: World, by: str) -> None:
    b = world.b
    # a's login rides along as a parameter: the credentials decide, never another parameter.
    auth = (
        {"sessionId": b.session_id(), "login": world.a.login}
        if by == "sessionId"
        else {"login": b.login, "pass": b.api_password}
    )
    for endpoint, walk in CHECKS.items():
        try:
            walk(world, auth)
        except AssertionError as failure:
            raise AssertionError(f"{endpoint}: {failure}") from failure
    # a still sees its own, and paid for nothing of b's.
    a_auth = {"login": world.a.login, "pass": world.a.api_password}
    assert assert_ok(world.get("/rest/State/", **a_auth, messageId=world.part_id))["State"] != 255
    assert len(assert_ok(world.get("/rest/Incoming/", **a_auth, **incoming_period()))) == 1
    assert assert_ok(world.get("/rest/Statistic/", **a_auth, **whole_period()))["Sent"] == 1
