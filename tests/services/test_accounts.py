"""The accounts' admin: amounts exact and bounded by what every backend keeps exactly, what
`show` gives, and the flood command."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.services.accounts import AccountAdmin, AdminError, parse_amount
from smsgate.services.inbound_admin import InboundAdmin
from smsgate.services.passwords import verify_password
from smsgate.store.accounts import find_account
from smsgate.store.database import Database
from tests.commands import smsgate


@pytest.mark.parametrize(
    "raw", ["100000000000000", "-100000000000000", "1" + "0" * 30, "1" + "0" * 20 + ".5"]
)
def test_an_amount_out_of_range_is_refused_with_a_message(raw: str) -> None:
    # 1e30 raised from the rounding (a traceback); 1e20 overflowed SQLite's integer.
    with pytest.raises(AdminError, match="out of range"):
        parse_amount(raw)


@pytest.mark.parametrize("raw", ["1e30", "1E+2", "NaN", "Infinity", ""])
def test_an_amount_is_written_in_plain_digits(raw: str) -> None:
    with pytest.raises(AdminError, match="not a number"):
        parse_amount(raw)


def test_a_credit_cannot_take_a_balance_past_the_limit(database: Database) -> None:
    admin = AccountAdmin(database)
    admin.create("rich", password="secret-pass-1", balance=Decimal(0))
    admin.credit("rich", parse_amount("90000000000000"))
    # Twice would be 1.8e14: past NUMERIC(18, 4), and a float on SQLite.
    with pytest.raises(AdminError, match="cannot go below zero or reach"):
        admin.credit("rich", parse_amount("90000000000000"))
    admin.credit("rich", parse_amount("-0.0001"))
    assert Decimal(admin.show("rich")["balance"]) == Decimal("89999999999999.9999")


def test_a_debit_never_takes_a_balance_below_zero(database: Database) -> None:
    admin = AccountAdmin(database)
    admin.create("modest", password="secret-pass-1", balance=Decimal(10))
    with pytest.raises(AdminError, match="cannot go below zero"):
        admin.credit("modest", Decimal("-10.0001"))
    assert Decimal(admin.show("modest")["balance"]) == 10
    admin.credit("modest", Decimal(-10))
    assert Decimal(admin.show("modest")["balance"]) == 0


def test_a_flood_override_out_of_range_is_refused(database: Database) -> None:
    admin = AccountAdmin(database)
    admin.create("bob", password="secret-pass-1")
    # A window of 10^11 s made every SendSms of the account answer Code 9.
    with pytest.raises(AdminError, match="flood window must be from 1 to"):
        admin.set_flood_limit("bob", None, 10**11)
    with pytest.raises(AdminError, match="flood limit must be from 1 to"):
        admin.set_flood_limit("bob", 10**20, None)
    admin.set_flood_limit("bob", 2**31 - 1, 10 * 365 * 24 * 3600)


def test_show_gives_the_webhook_but_not_its_secret(database: Database) -> None:
    admin = AccountAdmin(database)
    admin.create("hooked", password="account-password")
    assert admin.show("hooked")["webhook"] is None
    InboundAdmin(database).set_webhook("hooked", "https://hooks.example/in", "s3cr3t")
    assert admin.show("hooked")["webhook"] == {"url": "https://hooks.example/in", "signed": True}


def test_every_keyword_an_account_may_own_is_stored(database: Database) -> None:
    """A keyword's casefolded key may be three times its length: 32 "ΐ" make 96."""
    AccountAdmin(database).create("pizza", password="account-password")
    inbound = InboundAdmin(database)
    inbound.add_number("pizza", "2420", "ΐ" * 32)
    assert inbound.list_numbers("pizza") == [
        {"login": "pizza", "number": "2420", "prefix": "ΐ" * 32}
    ]


def test_the_flood_command_keeps_the_value_not_given(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    admin = AccountAdmin(database)
    admin.create("flooded", password="account-password")

    def flood(*options: str) -> tuple[object, object]:
        command = ("admin", "account", "flood", "flooded", *options)
        result = smsgate(tmp_path, *command, database_url=database_url)
        assert result.returncode == 0, result.stderr
        shown = admin.show("flooded")
        return shown["flood_limit"], shown["flood_window_seconds"]

    assert flood("--limit", "5") == (5, None)
    assert flood("--window", "7") == (5, 7)
    assert flood("--limit", "3", "--window", "9") == (3, 9)
    assert flood() == (None, None)  # both omitted: the platform's again


@pytest.mark.parametrize("private_allowed", [False, True])
def test_a_webhook_on_a_private_address_is_set_with_a_warning(
    database: Database, database_url: str, tmp_path: Path, private_allowed: bool
) -> None:
    AccountAdmin(database).create("hooked", password="account-password")
    settings = {"database_url": database_url}
    if private_allowed:
        settings["push_private_addresses"] = "true"
    command = ("admin", "account", "webhook", "hooked", "http://127.0.0.1:9/hook")
    result = smsgate(tmp_path, *command, **settings)
    assert result.returncode == 0, result.stderr
    warned = "127.0.0.1 has no public address" in result.stderr
    assert warned is not private_allowed, result.stderr
    assert AccountAdmin(database).show("hooked")["webhook"]["url"] == "http://127.0.0.1:9/hook"


def test_secrets_given_as_a_dash_are_read_from_standard_input(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    def admin(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return smsgate(tmp_path, "admin", "account", *args, stdin=stdin, database_url=database_url)

    created = admin("create", "piped", "--password", "-", "--api-password", "-", stdin="a1\nb2\n")
    assert created.returncode == 0, created.stderr
    account = database.read_sync(lambda c: find_account(c, login="piped"))
    assert account is not None and account.api_password_hash is not None
    assert verify_password(account.password_hash, "a1")
    assert verify_password(account.api_password_hash, "b2")
    missing = admin("password", "piped", "--password", "-", stdin="")
    assert missing.returncode == 1
    assert "needs its line of standard input" in missing.stderr


def test_a_sender_name_added_twice_is_refused_the_second_time(database: Database) -> None:
    admin = AccountAdmin(database)
    admin.create("named", password="secret-password", sender_names=["Shop"])
    with pytest.raises(AdminError, match="named has the sender name 'Shop' already"):
        admin.add_sender("named", "Shop")
    admin.add_sender("named", "Shop-2")
    assert admin.show("named")["sender_names"] == ["Shop", "Shop-2"]
