"""U+0000 (NUL) in what a send request stores: refused with Code 2 on every backend, before
anything is billed or created (PostgreSQL text cannot hold it); other control characters pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from smsgate.services.accounts import AccountAdmin
from tests.api.helpers import (
    PHONE,
    SENDER,
    api_date,
    assert_error,
    assert_ids,
    assert_ok,
    balance,
    creds,
    message_rows,
    send_sms,
    statistic,
)
from tests.conftest import Account
from tests.domain.test_text import CONTROLS

NUL_TEXT = "Hello\x00world"


def _tomorrow() -> str:
    return api_date(datetime.now(UTC) + timedelta(days=1))


# Each send endpoint with a request whose text holds a NUL.
NUL_REQUESTS = {
    "SendSms": {"destinationAddress": PHONE, "data": NUL_TEXT},
    "SendByTime": {"destinationAddress": PHONE, "data": NUL_TEXT, "sendDate": _tomorrow()},
    "SendBulk": {"destinationAddresses": f"{PHONE},79161234567", "data": NUL_TEXT},
    "SendBulkPacket": {
        "phone_data": json.dumps(
            {"sms": [{"phone": "79161234567", "text": "fine"}, {"phone": PHONE, "text": NUL_TEXT}]}
        )
    },
}


def _send(account: Account, endpoint: str, **params: str) -> httpx.Response:
    return account.client.post(
        f"/rest/Send/{endpoint}/", data={**creds(account), "sourceAddress": SENDER, **params}
    )


def _assert_nothing_sent(account: Account) -> None:
    assert balance(account) == 1000
    assert statistic(account)["Sent"] == 0


@pytest.mark.parametrize("endpoint", list(NUL_REQUESTS))
def test_a_text_with_nul_is_code_2_and_changes_nothing(
    make_account: Callable[..., Account], endpoint: str
) -> None:
    account = make_account()
    desc = assert_error(_send(account, endpoint, **NUL_REQUESTS[endpoint]), 2)
    assert "NUL" in desc and "U+0000" in desc, desc
    _assert_nothing_sent(account)


def test_a_callback_url_with_nul_is_code_2_and_changes_nothing(
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    response = send_sms(account, callback_url="http://example.com/\x00report")
    desc = assert_error(response, 2)
    assert desc.startswith("callback_url contains"), desc
    _assert_nothing_sent(account)


def test_a_dynamic_sender_name_with_nul_is_code_2_and_changes_nothing(
    make_account: Callable[..., Account],
) -> None:
    account = make_account(dynamic_sender=True)
    response = _send(
        account, "SendSms", destinationAddress=PHONE, data="Hi", sourceAddress="A\x00B"
    )
    assert_error(response, 2)
    _assert_nothing_sent(account)


@pytest.mark.parametrize("endpoint", ["SendSms", "SendBulk"])
def test_other_control_characters_are_sent_as_they_are(
    admin: AccountAdmin, make_account: Callable[..., Account], endpoint: str
) -> None:
    account = make_account()
    phones = "destinationAddress" if endpoint == "SendSms" else "destinationAddresses"
    ids = assert_ids(assert_ok(_send(account, endpoint, **{phones: PHONE, "data": CONTROLS})), 1)
    assert message_rows(admin.database, ids)[ids[0]].text == CONTROLS
    assert balance(account) == 999


def test_a_login_with_nul_is_a_wrong_login(make_account: Callable[..., Account]) -> None:
    account = make_account()
    login = f"{account.login}\x00"
    session = account.client.get("/rest/Session/", params={"login": login, "password": "x"})
    assert_error(session, 4)
    by_pass = account.client.get("/rest/Balance/", params={"login": login, "pass": "x"})
    assert_error(by_pass, 4)
