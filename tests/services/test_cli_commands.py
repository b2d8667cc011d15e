"""The ``smsgate admin`` commands an operator runs, each through the real command against the
shared server's database, checked by their effect: what ``account show`` prints and what the
API then answers. Also which settings a command takes, and ``serve --demo``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from smsgate.cli.context import console
from smsgate.cli.serving import ensure_demo_account
from smsgate.config import Settings
from smsgate.services.accounts import AccountAdmin, AdminError
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from tests.api.helpers import PHONE, assert_error, assert_ok, balance, creds, send_sms, wait_for
from tests.commands import smsgate
from tests.conftest import Account
from tests.server import ServerProcess, http_client
from tests.tls import make_test_ca

Admin = Callable[..., str]
MTS = "79161234567"


@pytest.fixture
def run_admin(server: ServerProcess, tmp_path: Path) -> Admin:
    """Runs ``smsgate admin *args`` on the shared server's database; its output, after checking
    that it succeeded."""

    def run(*args: str, stdin: str | None = None) -> str:
        result = smsgate(tmp_path, "admin", *args, stdin=stdin, database_url=server.database_url)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def show(run_admin: Admin, login: str) -> dict[str, Any]:
    """What ``smsgate admin account show`` prints of the account."""
    shown = orjson.loads(run_admin("account", "show", login))
    assert isinstance(shown, dict), shown
    return shown


def open_session(client: httpx.Client, login: str, password: str) -> httpx.Response:
    return client.get("/rest/Session/", params={"login": login, "password": password})


def balance_by_session(client: httpx.Client, session_id: str) -> httpx.Response:
    return client.get("/rest/Balance/", params={"sessionId": session_id})


def send_from(account: Account, sender: str, destination: str = PHONE) -> httpx.Response:
    return account.client.post(
        "/rest/Send/SendSms/",
        data={
            **creds(account),
            "sourceAddress": sender,
            "destinationAddress": destination,
            "data": "Hi",
        },
    )


def test_block_refuses_every_request_and_unblock_serves_the_account_again(
    make_account: Callable[..., Account], run_admin: Admin
) -> None:
    """Blocking reaches a session already open too; unblocking needs no new one."""
    account = make_account()
    client = account.client
    session_id = account.session_id()
    assert_ok(balance_by_session(client, session_id))

    assert run_admin("account", "block", account.login).strip() == f"blocked {account.login}"
    assert show(run_admin, account.login)["blocked"] is True
    wait_for(lambda: balance_by_session(client, session_id).status_code == 403, timeout=2)
    assert_error(balance_by_session(client, session_id), 7, "Account is blocked")
    assert_error(client.get("/rest/Balance/", params=creds(account)), 7, "Account is blocked")
    assert_error(open_session(client, account.login, account.password), 7, "Account is blocked")

    run_admin("account", "unblock", account.login)
    wait_for(lambda: balance_by_session(client, session_id).status_code == 200, timeout=2)
    assert balance(account) == 1000
    assert_ok(open_session(client, account.login, account.password))


def test_passwords_read_from_standard_input_replace_the_old_ones(
    make_account: Callable[..., Account], run_admin: Admin
) -> None:
    """Both given as "-": the first line is the password, the second the API password."""
    account = make_account()
    client = account.client
    assert balance(account) == 1000  # the old API password works, and is cached

    run_admin(
        "account", "password", account.login, "--password", "-", "--api-password", "-",
        stdin="new-password\nnew-api-password\n",
    )  # fmt: skip
    assert_ok(open_session(client, account.login, "new-password"))
    assert_error(open_session(client, account.login, account.password), 4)
    assert_error(open_session(client, account.login, "new-api-password"), 4)
    new_api = {"login": account.login, "pass": "new-api-password"}
    assert assert_ok(client.get("/rest/Balance/", params=new_api)) == 1000
    wait_for(lambda: client.get("/rest/Balance/", params=creds(account)).status_code == 401)
    assert_error(client.get("/rest/Balance/", params=creds(account)), 4)

    # The password alone: the API password stays.
    run_admin("account", "password", account.login, "--password", "-", stdin="third-password\n")
    assert_ok(open_session(client, account.login, "third-password"))
    assert_error(open_session(client, account.login, "new-password"), 4)
    assert assert_ok(client.get("/rest/Balance/", params=new_api)) == 1000


def test_secrets_read_from_standard_input_go_in_the_order_the_options_were_given(
    make_account: Callable[..., Account], run_admin: Admin
) -> None:
    """The API password given first takes the first line: swapped, the credential meant for
    the API alone would open sessions."""
    account = make_account()
    run_admin(
        "account", "password", account.login, "--api-password", "-", "--password", "-",
        stdin="api-first\npassword-second\n",
    )  # fmt: skip
    client = account.client
    assert_ok(open_session(client, account.login, "password-second"))
    assert_error(open_session(client, account.login, "api-first"), 4)
    api = {"login": account.login, "pass": "api-first"}
    assert assert_ok(client.get("/rest/Balance/", params=api)) == 1000


def test_dynamic_sender_lets_the_account_use_any_name_until_turned_off(
    make_account: Callable[..., Account], run_admin: Admin
) -> None:
    """The switch is the account's, read by the API at each send: no restart."""
    account = make_account()  # its one registered name: "SMS Info"
    assert_error(send_from(account, "AnyName"), 6)

    said = run_admin("account", "dynamic-sender", account.login, "true")
    assert said == f"dynamic sender on for {account.login}\n"
    assert show(run_admin, account.login)["dynamic_sender"] is True
    wait_for(lambda: send_from(account, "AnyName").status_code == 200, timeout=2)

    said = run_admin("account", "dynamic-sender", account.login, "false")
    assert said == f"dynamic sender off for {account.login}\n"
    wait_for(lambda: send_from(account, "AnyName").status_code == 400, timeout=2)
    assert_error(send_from(account, "AnyName"), 6)


def test_a_sender_name_added_can_be_used_and_removed_cannot(
    make_account: Callable[..., Account], run_admin: Admin
) -> None:
    """Removing one name leaves the others usable."""
    account = make_account()
    assert_error(send_from(account, "Shop"), 6)

    run_admin("sender", "add", account.login, "Shop")
    assert show(run_admin, account.login)["sender_names"] == ["SMS Info", "Shop"]
    wait_for(lambda: send_from(account, "Shop").status_code == 200, timeout=2)

    run_admin("sender", "remove", account.login, "Shop")
    wait_for(lambda: send_from(account, "Shop").status_code == 400, timeout=2)
    assert_error(send_from(account, "Shop"), 6)
    assert_ok(send_from(account, "SMS Info"))


def test_a_tariff_price_set_is_shown_replaced_and_charged(
    make_account: Callable[..., Account], run_admin: Admin
) -> None:
    """A prefix's price beats the account's for its numbers only."""
    account = make_account(price=Decimal("0.5"))

    def tariff() -> dict[str, Decimal]:
        shown = orjson.loads(run_admin("tariff", "show", account.login))
        assert isinstance(shown, dict), shown
        # As numbers: PostgreSQL's are written 0.3500 (see the next test).
        return {prefix: Decimal(price) for prefix, price in shown.items()}

    run_admin("tariff", "set", account.login, "7916", "0.35")
    assert tariff() == {"7916": Decimal("0.35")}
    # Set again: the price replaced, not a second row; charged from then on.
    run_admin("tariff", "set", account.login, "7916", "0.3")

    def price_list() -> Any:
        return assert_ok(account.client.get("/rest/Balance/price_list.php", params=creds(account)))

    wait_for(lambda: price_list()["sms"].get("7916") == {"R": "0.3"}, timeout=2)
    assert price_list()["sms"] == {"7916": {"R": "0.3"}, "default": {"R": "0.5"}}
    assert_ok(send_from(account, "SMS Info", MTS))
    assert_ok(send_from(account, "SMS Info", PHONE))  # no prefix of its own: the account's price
    assert balance(account) == Decimal(1000) - Decimal("0.3") - Decimal("0.5")


def test_show_writes_amounts_as_the_api_does_on_every_backend(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """A script reading ``account show`` should not depend on the backend: the API writes
    0.35 and 1000 on both, whatever the store keeps."""
    admin = AccountAdmin(database)
    admin.create("priced", password="account-password", balance=Decimal("1000.25"))
    admin.set_tariff("priced", "7916", Decimal("0.35"))
    result = smsgate(tmp_path, "admin", "account", "show", "priced", database_url=database_url)
    assert result.returncode == 0, result.stderr
    shown = orjson.loads(result.stdout)
    assert (shown["balance"], shown["tariff"]) == ("1000.25", {"7916": "0.35"})


def test_create_keeps_every_option_given(
    make_account: Callable[..., Account], run_admin: Admin, client: httpx.Client
) -> None:
    """An option create took but did not store would go unnoticed until a client used it."""
    parent = make_account()
    login = f"child-{uuid.uuid4().hex[:10]}"
    run_admin(
        "account", "create", login, "--password", "-", "--api-password", "-",
        "--balance", "12.5", "--price", "0.25", "--sender", "Shop", "--sender", "SMS Info",
        "--parent", parent.login, "--dynamic-sender",
        stdin="child-password\nchild-api-password\n",
    )  # fmt: skip
    shown = show(run_admin, login)
    # As numbers: PostgreSQL's are written 12.5000 (see the test of their text above).
    assert Decimal(shown.pop("balance")) == Decimal("12.5")
    assert Decimal(shown.pop("price")) == Decimal("0.25")
    assert shown == {
        "login": login,
        "sender_names": ["SMS Info", "Shop"],
        "dynamic_sender": True,
        "blocked": False,
        "tariff": {},
        "parent": parent.login,
        "flood_limit": None,
        "flood_window_seconds": None,
        "timezone": None,
        "webhook": None,
    }
    child = Account(login, "child-password", "child-api-password", client)
    assert_ok(open_session(client, login, "child-password"))
    assert balance(child) == Decimal("12.5")
    assert_ok(send_sms(child, PHONE, "Hi"))
    assert balance(child) == Decimal("12.25")


# SQLite only: the two databases are two files of the test's folder, and nothing in the
# choice of one depends on the backend.
def test_the_environment_wins_over_the_settings_file_given_with_config(tmp_path: Path) -> None:
    """A key the environment sets is the environment's; the file's other keys still apply."""
    from_file, from_env = tmp_path / "from-file.db", tmp_path / "from-env.db"
    settings_file = tmp_path / "smsgate.toml"
    settings_file.write_text(
        f'database_url = "sqlite:///{from_file}"\npush_private_addresses = true\n'
    )
    env_database = Database(f"sqlite:///{from_env}")
    try:
        upgrade(env_database.write_engine)
        admin = AccountAdmin(env_database)
        admin.create("hooked", password="account-password")
        hook = ("account", "webhook", "hooked", "http://127.0.0.1:9/hook")
        result = smsgate(
            tmp_path, "--config", str(settings_file), "admin", *hook,
            database_url=f"sqlite:///{from_env}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert admin.show("hooked")["webhook"] == {
            "url": "http://127.0.0.1:9/hook",
            "signed": False,
        }
        assert not from_file.exists()
        # The file's push_private_addresses was taken: no warning of a private receiver.
        assert "no public address" not in result.stderr, result.stderr

        created = smsgate(
            tmp_path, "--config", str(settings_file), "admin", "account", "create", "filed",
            "--password", "p",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        with pytest.raises(AdminError, match="no such account"):
            admin.show("filed")
    finally:
        env_database.close()
    file_database = Database(f"sqlite:///{from_file}")
    try:
        assert AccountAdmin(file_database).show("filed")["login"] == "filed"
    finally:
        file_database.close()


def test_a_command_that_finds_no_database_file_says_it_created_one(tmp_path: Path) -> None:
    """The default file is relative to the folder a command runs in: run elsewhere than its
    server, an admin command works on a database of its own, and must say so."""
    first = smsgate(tmp_path, "admin", "account", "show", "demo", database_url="sqlite:///./a.db")
    assert first.returncode == 1
    assert f"note: no database was at {tmp_path / 'a.db'}: created an empty one" in first.stderr
    again = smsgate(tmp_path, "admin", "account", "show", "demo", database_url="sqlite:///./a.db")
    assert "note:" not in again.stderr, again.stderr


# SQLite only, as `make run` serves it: two server starts are most of this file's time, and
# making the account is the create of the admin tests above, which run on both backends.
def test_serve_demo_makes_the_demo_account_once_and_keeps_its_balance(tmp_path: Path) -> None:
    """A second ``serve --demo`` on the same database finds the account there: it must not
    fail, nor reset what the account spent."""
    server = ServerProcess(f"sqlite:///{tmp_path / 'smsgate.db'}", tmp_path)
    client = http_client(server.url)
    try:
        server.start("--demo")
        session_id = str(assert_ok(open_session(client, "demo", "demo")))
        assert assert_ok(balance_by_session(client, session_id)) == 1000
        sent = client.post(
            "/rest/Send/SendSms/",
            data={
                "sessionId": session_id,
                "sourceAddress": "SMS Info",
                "destinationAddress": PHONE,
                "data": "Hello",
            },
        )
        assert len(assert_ok(sent)) == 1
        assert assert_ok(balance_by_session(client, session_id)) == 999
        server.stop()

        server.start("--demo")
        assert assert_ok(balance_by_session(client, session_id)) == 999
        again = str(assert_ok(open_session(client, "demo", "demo")))
        assert assert_ok(balance_by_session(client, again)) == 999
    finally:
        client.close()
        server.stop()
    banner = "Demo account: login demo, password demo, sender name SMS Info"
    assert server.log_path.read_text().count(banner) == 2


@pytest.mark.parametrize(
    ("plain_http", "url"),
    [(True, "http://127.0.0.1:8080/rest"), (False, "https://127.0.0.1:8443/rest")],
)
def test_the_demo_hint_names_the_port_the_server_answers_on(
    database: Database, tmp_path: Path, plain_http: bool, url: str
) -> None:
    # With plain HTTP off it printed the plain port, which nothing served.
    tls = make_test_ca(tmp_path)
    config = Settings(
        host="127.0.0.1",
        plain_http=plain_http,
        ssl_certfile=tls.certfile,
        ssl_keyfile=tls.keyfile,
    )
    with console.capture() as captured:
        ensure_demo_account(AccountAdmin(database), config)
    assert f"curl '{url}/Session/?login=demo&password=demo'" in captured.get()
