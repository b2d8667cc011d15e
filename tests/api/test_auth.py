"""Authentication: sessions, login + API password, blocking, password changes, session expiry."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from smsgate.services.accounts import AccountAdmin
from tests.api.helpers import Deployment, assert_error, assert_ok, creds, wait_for
from tests.conftest import Account
from tests.server import ServerProcess


def get_balance(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get("/rest/Balance/", params=params)


def open_session(client: httpx.Client, login: str, password: str) -> httpx.Response:
    return client.get("/rest/Session/", params={"login": login, "password": password})


def test_login_and_api_password_authenticate(make_account: Callable[..., Account]) -> None:
    account = make_account(balance="42.5")
    for path in ("/rest/Balance/", "/rest/Balance/balance.php"):
        response = account.client.get(path, params=creds(account))
        assert assert_ok(response) == 42.5
    response = account.client.post("/rest/Balance/", data=creds(account))
    assert response.text == "42.5"


def test_account_password_is_not_the_api_password(account_pair: tuple[Account, Account]) -> None:
    account, _ = account_pair
    response = get_balance(account.client, login=account.login, **{"pass": account.password})
    assert_error(response, 4)
    # and Session wants the account password, not the API one
    assert_error(open_session(account.client, account.login, account.api_password), 4)


def test_api_password_defaults_to_the_password(admin: AccountAdmin, client: httpx.Client) -> None:
    login = f"user-{uuid.uuid4().hex[:10]}"
    admin.create(login, password="only-password", balance=Decimal(7))
    response = get_balance(client, login=login, **{"pass": "only-password"})
    assert response.text == "7"
    assert_error(get_balance(client, login=login, **{"pass": "api-password"}), 4)


@pytest.fixture
def account_pair(make_account: Callable[..., Account]) -> tuple[Account, Account]:
    return make_account(), make_account()


def test_wrong_password_is_401_code_4(account_pair: tuple[Account, Account]) -> None:
    account, other = account_pair
    client = account.client
    assert_error(open_session(client, account.login, "wrong-password"), 4)
    assert_error(get_balance(client, login=account.login, **{"pass": "wrong"}), 4)
    # another account's password is no key either
    assert_error(open_session(client, account.login, other.password + "x"), 4)
    # a right password after a wrong one still works (no poisoned cache)
    assert_ok(get_balance(client, **creds(account)))
    assert_error(get_balance(client, login=account.login, **{"pass": "wrong"}), 4)
    assert_ok(get_balance(client, **creds(account)))


def test_unknown_login_is_401_code_4(client: httpx.Client) -> None:
    login = f"nobody-{uuid.uuid4().hex[:8]}"
    assert_error(open_session(client, login, "secret-password"), 4)
    assert_error(get_balance(client, login=login, **{"pass": "api-password"}), 4)
    assert_error(
        client.post("/rest/State/", data={"login": login, "pass": "x", "messageId": "1"}), 4
    )


def test_a_session_id_kept_with_its_json_quotes_is_taken(
    make_account: Callable[..., Account],
) -> None:
    """Session/ answers a JSON string: clients that keep it as written send it quoted."""
    account = make_account()
    session_id = account.session_id()
    for kept in (f'"{session_id}"', f"'{session_id}'", f' "{session_id.upper()}" '):
        assert assert_ok(get_balance(account.client, sessionId=kept)) == 1000


def test_unknown_session_is_400_code_3(client: httpx.Client) -> None:
    for path in ("/rest/Balance/", "/rest/Statistic/originator.php", "/rest/State/"):
        response = client.get(path, params={"sessionId": uuid.uuid4().hex, "messageId": "1"})
        assert_error(response, 3)


@pytest.mark.parametrize(
    "session_id",
    [
        "xyz",
        "0" * 31,
        "0" * 33,
        "g" * 32,
        "0123456789abcdef0123456789abcde-",
        "'; drop table sessions; --",
        "\u0660" * 32,
        "%00",
    ],
)
def test_malformed_session_is_400_code_3(client: httpx.Client, session_id: str) -> None:
    assert_error(get_balance(client, sessionId=session_id), 3)
    assert_error(client.post("/rest/Balance/", data={"sessionId": session_id}), 3)


def test_a_session_opened_by_one_account_is_not_anothers(
    account_pair: tuple[Account, Account],
) -> None:
    first, second = account_pair
    response = get_balance(first.client, sessionId=second.session_id())
    assert response.status_code == 200
    second_balance = response.text
    first.client.post(
        "/rest/Send/SendSms/",
        data={
            "sessionId": first.session_id(),
            "sourceAddress": "SMS Info",
            "destinationAddress": "79001234567",
            "data": "hi",
        },
    ).raise_for_status()
    assert get_balance(first.client, sessionId=second.session_id()).text == second_balance
    assert get_balance(first.client, sessionId=first.session_id()).text == "999"


@pytest.mark.parametrize(
    "path", ["/rest/Balance/", "/rest/Balance/price_list.php", "/rest/State/", "/rest/Statistic/"]
)
def test_missing_session_id_is_400_code_1(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 1, "sessionId can not be null or empty")
    assert_error(
        client.post(path, data={"messageId": "1"}), 1, "sessionId can not be null or empty"
    )


def test_login_without_pass_is_code_1(account_pair: tuple[Account, Account]) -> None:
    account, _ = account_pair
    assert_error(get_balance(account.client, login=account.login), 1)
    assert_error(get_balance(account.client, **{"pass": account.api_password}), 1)


def test_session_without_login_or_password_is_400_code_1(client: httpx.Client) -> None:
    desc = "{} can not be null or empty"
    assert_error(client.get("/rest/Session/"), 1)
    assert_error(client.get("/rest/Session/", params={"password": "x"}), 1, desc.format("login"))
    assert_error(client.get("/rest/Session/", params={"login": "x"}), 1, desc.format("password"))
    response = client.post("/rest/Session/session.php", data={"login": "x", "password": ""})
    assert_error(response, 1, desc.format("password"))


def test_blocked_account_is_403_code_7_and_unblock_restores(
    admin: AccountAdmin, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    client = account.client
    session_id = account.session_id()
    admin.set_blocked(account.login, True)

    def blocked() -> bool:
        return get_balance(client, sessionId=session_id).status_code == 403

    wait_for(blocked, timeout=2)
    assert_error(get_balance(client, sessionId=session_id), 7)
    assert_error(get_balance(client, **creds(account)), 7)
    assert_error(open_session(client, account.login, account.password), 7)
    send = {"sourceAddress": "SMS Info", "destinationAddress": "79001234567", "data": "x"}
    assert_error(client.post("/rest/Send/SendSms/", data={**creds(account), **send}), 7)
    # a wrong password still reads as a wrong password
    assert_error(open_session(client, account.login, "wrong"), 4)

    admin.set_blocked(account.login, False)
    wait_for(lambda: get_balance(client, sessionId=session_id).status_code == 200, timeout=2)
    assert get_balance(client, **creds(account)).text == "1000"
    assert_ok(open_session(client, account.login, account.password))


def test_password_change_keeps_sessions_and_retires_the_old_api_password(
    admin: AccountAdmin, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    client = account.client
    session_id = account.session_id()
    assert_ok(get_balance(client, **creds(account)))  # the old API password is now cached

    admin.set_passwords(account.login, password="new-password", api_password="new-api-password")
    wait_for(lambda: get_balance(client, **creds(account)).status_code == 401, timeout=1)
    assert_error(get_balance(client, **creds(account)), 4)
    assert_ok(get_balance(client, login=account.login, **{"pass": "new-api-password"}))
    # API keys survive a password change
    assert get_balance(client, sessionId=session_id).text == "1000"
    assert_error(open_session(client, account.login, account.password), 4)
    assert_ok(open_session(client, account.login, "new-password"))


def test_revoked_session_ids_end_and_the_account_opens_new_ones(
    server: ServerProcess, make_account: Callable[..., Account]
) -> None:
    account, other = make_account(), make_account()
    client = account.client
    revoked = [account.session_id(), account.session_id()]
    kept = other.session_id()
    result = subprocess.run(
        [sys.executable, "-m", "smsgate", "admin", "account", "revoke-sessions", account.login],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == f"2 session ids revoked for {account.login}", result.stderr
    wait_for(lambda: get_balance(client, sessionId=revoked[0]).status_code != 200, timeout=3)
    for session_id in revoked:
        assert_error(get_balance(client, sessionId=session_id), 3)
    assert get_balance(client, sessionId=account.session_id()).text == "1000"
    assert get_balance(other.client, sessionId=kept).text == "1000"


def test_changing_only_the_account_password_keeps_the_api_password(
    admin: AccountAdmin, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    session_id = account.session_id()
    admin.set_passwords(account.login, password="new-password", api_password=None)
    wait_for(
        lambda: open_session(account.client, account.login, account.password).status_code == 401,
        timeout=1,
    )
    assert_ok(get_balance(account.client, **creds(account)))
    assert_ok(get_balance(account.client, sessionId=session_id))


def test_session_expires_after_its_ttl(spawn: Callable[..., Deployment]) -> None:
    deployment = spawn(session_ttl_seconds="1")
    account = deployment.make_account()
    client = deployment.client
    opened = time.monotonic()
    session_id = account.session_id()
    assert get_balance(client, sessionId=session_id).text == "1000"

    def expired() -> bool:
        return get_balance(client, sessionId=session_id).status_code != 200

    wait_for(expired, timeout=3)
    assert time.monotonic() - opened >= 1
    assert_error(get_balance(client, sessionId=session_id), 4, "SessionID expired")
    # the login itself still works, and a new session does
    assert get_balance(client, **creds(account)).text == "1000"
    assert get_balance(client, sessionId=account.session_id()).text == "1000"
