"""The admin CLI on odd input: a login or URL that reads as markup, amounts in other scripts'
digits, a broken gzip file, limits past the database's integers, an account created twice at
once: one line of error or the change as asked, never a traceback."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import psycopg
import pytest

from smsgate.store.database import Database
from tests.databases import psycopg_url
from tests.sendbytime.test_numbering_admin import Outcome, in_process


def admin(database: Database, *args: str) -> Outcome:
    outcome = in_process(database.url, *args)
    assert not outcome.crashed, outcome
    return outcome


def test_a_login_and_a_url_that_read_as_markup_are_printed_as_given(database: Database) -> None:
    # "[/x]" closed a tag rich never opened: the change was made, then a traceback and exit 1,
    # on which a script would credit again; "shop[old]" printed as "shop".
    for login in ("shop[old]", "[/x]2"):
        created = admin(database, "account", "create", login, "--password", "p")
        assert (created.exit_code, created.stdout.strip()) == (0, f"created account {login}")
    credited = admin(database, "account", "credit", "[/x]2", "5")
    assert (credited.exit_code, credited.stdout.strip()) == (0, "[/x]2 balance 5")
    hooked = admin(database, "account", "webhook", "[/x]2", "https://example.com/a[/b]")
    assert hooked.exit_code == 0, hooked


@pytest.mark.parametrize("amount", ["٥", "５.５", "1_000", " 5 ", "1E+2", "5,5"])
def test_an_amount_is_ascii_digits_and_a_point(database: Database, amount: str) -> None:
    admin(database, "account", "create", "acme", "--password", "p")
    refused = admin(database, "account", "credit", "acme", amount)
    assert refused.exit_code == 1 and refused.stderr == f"error: not a number: {amount}\n"
    taken = [admin(database, "account", "credit", "acme", ok) for ok in ("5", "-0.5", ".5", "2.")]
    assert [outcome.stdout.strip() for outcome in taken][-1] == "acme balance 7"


def test_a_broken_gzip_file_is_a_line_naming_it(database: Database, tmp_path: Path) -> None:
    whole = gzip.compress(b"x" * 10_000)
    broken = {"cut.csv.gz": whole[:30], "magic.csv.gz": whole[:2]}
    for name, content in broken.items():
        (tmp_path / name).write_bytes(content)
        outcome = admin(database, "numbering", "import", str(tmp_path / name))
        assert outcome.exit_code == 1
        assert outcome.stderr.startswith(f"error: {name}: not a whole gzip file"), outcome


def test_limits_past_the_databases_integers_are_refused(database: Database) -> None:
    outcome = admin(database, "inbound", "unrouted", "--limit", "99999999999999999999")
    assert outcome.exit_code == 2 and "--limit" in outcome.stderr  # a usage error, not a traceback
    admin(database, "account", "create", "acme", "--password", "p")
    secret = "k" * 201
    hooked = admin(
        database, "account", "webhook", "acme", "https://example.com/h", "--secret", secret
    )
    assert hooked.exit_code == 1
    assert hooked.stderr.strip() == "error: a webhook secret is at most 200 characters"


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)  # SQLite's lock comes first
def test_an_account_created_at_the_same_moment_elsewhere_is_one_line(database: Database) -> None:
    # Its unique violation was a traceback holding the new password's hash.
    with psycopg.connect(psycopg_url(database.url)) as other:
        other.execute(
            "INSERT INTO accounts (login, password_hash, balance, dynamic_sender, blocked, "
            "created_at) VALUES ('race', 'x', 0, false, false, now())"
        )
        committing = threading.Timer(1.0, other.commit)
        committing.start()
        started = time.monotonic()
        outcome = admin(database, "account", "create", "race", "--password", "p")
        committing.join()
    assert time.monotonic() - started >= 0.9  # it waited for the other insert
    assert (outcome.exit_code, outcome.stderr.strip()) == (1, "error: account already exists: race")
