"""The authenticator's caches never outlive an admin change, even one made while a read of
theirs was in flight; and they stay bounded."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from smsgate.domain.errors import Unauthorized
from smsgate.services import auth, passwords
from smsgate.services.accounts import AccountAdmin
from smsgate.services.auth import Authenticator
from smsgate.services.limits import (
    LOCKED_OUT,
    TOO_MANY_REQUESTS,
    LockoutPolicy,
    LoginThrottle,
    RequestRate,
)
from smsgate.services.passwords import verify_password
from smsgate.store.accounts import session_key
from smsgate.store.database import Database
from smsgate.store.schema import sessions

OLD, NEW = "old-api-password", "new-api-password"


def authenticator(database: Database) -> Authenticator:
    lenient = LockoutPolicy(1000, 1, 1)
    return Authenticator(
        database,
        default_price=Decimal(1),
        session_ttl=None,
        throttle=LoginThrottle(lenient, lenient),
    )


def test_a_password_changed_during_its_check_is_not_cached(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = AccountAdmin(database)
    admin.create("racer", password="account-password")
    admin.set_passwords("racer", password=None, api_password=OLD)
    hashing = threading.Event()
    go_on = threading.Event()

    def verify_when_let(password_hash: str, password: str) -> bool:
        hashing.set()  # the hash is read: the change below comes after it
        go_on.wait(10)
        return verify_password(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", verify_when_let)

    async def scenario() -> None:
        checker = authenticator(database)
        # The check reads the old hash, then waits for argon2 in a thread: meanwhile the admin
        # changes the password and this process drops its caches (as watch_revisions does).
        checking = asyncio.create_task(checker.by_api_password("racer", OLD))
        await asyncio.to_thread(hashing.wait, 10)
        admin.set_passwords("racer", password=None, api_password=NEW)
        go_on.set()
        checker.forget()
        assert (await checking).login == "racer"  # checked against what it read: let be
        with pytest.raises(Unauthorized):
            await checker.by_api_password("racer", OLD)
        assert (await checker.by_api_password("racer", NEW)).login == "racer"

    asyncio.run(scenario())


def test_the_caches_keep_the_newest_entries(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "MAX_CACHED", 3)
    admin = AccountAdmin(database)
    admin.create("many", password="account-password")

    async def scenario() -> None:
        checker = authenticator(database)
        sessions = [await checker.open_session("many", "account-password") for _ in range(5)]
        assert list(checker._sessions) == sessions[-3:]
        # An evicted session is read from the database again.
        assert (await checker.by_session(sessions[0])).login == "many"

    asyncio.run(scenario())


def test_concurrent_guesses_are_checked_one_at_a_time_so_the_lockout_holds(
    database: Database,
) -> None:
    AccountAdmin(database).create("target", password="account-password")
    # Two failures free, the third locks the login for a minute.
    strict = LockoutPolicy(2, 60, 60)
    checker = Authenticator(
        database,
        default_price=Decimal(1),
        session_ttl=None,
        throttle=LoginThrottle(strict, LockoutPolicy(1000, 1, 1)),
    )

    async def scenario() -> list[str]:
        guesses = (checker.open_session("target", f"guess-{n}") for n in range(12))
        answers = await asyncio.gather(*guesses, return_exceptions=True)
        return [str(answer) for answer in answers]

    answers = asyncio.run(scenario())
    # All twelve passed the lockout's check while the first was still being hashed: twelve
    # passwords were checked where three may be.
    assert answers.count("Invalid login or password") == 3
    assert answers.count(LOCKED_OUT) == 9


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords hashed to check them, in order."""
    checked: list[str] = []

    def counting_verify(password_hash: str, password: str) -> bool:
        checked.append(password)
        return verify_password(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting_verify)
    return checked


def test_login_and_pass_cost_one_password_hash_not_one_per_request(
    database: Database, verified: list[str]
) -> None:
    admin = AccountAdmin(database)
    admin.create("busy", password="account-password")
    admin.set_passwords("busy", password=None, api_password=OLD)

    async def scenario() -> None:
        checker = authenticator(database)
        for _ in range(20):
            assert (await checker.by_api_password("busy", OLD)).login == "busy"

    asyncio.run(scenario())
    assert verified == [OLD]  # the first request's check; the other 19 from the cache


def test_concurrent_requests_with_a_password_not_yet_cached_cost_one_hash(
    database: Database, verified: list[str]
) -> None:
    """Each admin change drops the caches: 16 clients of one account then each paid a whole
    hash (4.3 s of CPU), one after another."""
    admin = AccountAdmin(database)
    admin.create("herd", password="account-password")
    admin.set_passwords("herd", password=None, api_password=OLD)

    async def scenario() -> None:
        checker = authenticator(database)
        herd = [checker.by_api_password("herd", OLD) for _ in range(16)]
        assert {profile.login for profile in await asyncio.gather(*herd)} == {"herd"}
        with pytest.raises(Unauthorized):  # a wrong one is still checked
            await checker.by_api_password("herd", NEW)

    asyncio.run(scenario())
    assert verified == [OLD, NEW]


def test_a_login_past_its_accounts_rate_costs_no_password_hash(
    database: Database, verified: list[str]
) -> None:
    """The rate was spent after the hash: 19 of 20 Session requests were refused, and all 20
    cost a hash (5.5 s of CPU)."""
    AccountAdmin(database).create("hasty", password="account-password")
    lenient = LockoutPolicy(1000, 1, 1)
    checker = Authenticator(
        database,
        default_price=Decimal(1),
        session_ttl=None,
        throttle=LoginThrottle(lenient, lenient),
        rate=RequestRate(per_second=0.001, burst=1),
    )

    async def scenario() -> list[str]:
        answers = [checker.open_session("hasty", "account-password") for _ in range(5)]
        return [str(answer) for answer in await asyncio.gather(*answers, return_exceptions=True)]

    answers = asyncio.run(scenario())
    assert answers.count(TOO_MANY_REQUESTS) == 4
    assert len(verified) == 1


def test_an_unknown_login_costs_a_password_check_as_a_wrong_password_does(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Answered at once, an unknown login took 1.4 ms against 129 for a wrong password: the
    # time told which logins exist.
    AccountAdmin(database).create("known", password="account-password")
    checked = []

    def counting_verify(password: str) -> bool:
        checked.append(password)
        return passwords.verify_against_nothing(password)

    monkeypatch.setattr(auth, "verify_against_nothing", counting_verify)

    async def scenario() -> None:
        checker = authenticator(database)
        for login in ("known", "unknown"):
            with pytest.raises(Unauthorized):
                await checker.by_api_password(login, "guess")

    asyncio.run(scenario())
    assert checked == ["guess"]  # the unknown login's; the known one's went to its own hash
    assert passwords.verify_against_nothing("") is False


def test_a_session_id_is_kept_as_its_hash_only(database: Database) -> None:
    AccountAdmin(database).create("hashed", password="account-password")

    async def scenario() -> str:
        checker = authenticator(database)
        session_id = await checker.open_session("hashed", "account-password")
        checker.forget()  # the next look-up reads the database
        assert (await checker.by_session(session_id)).login == "hashed"
        return session_id

    session_id = asyncio.run(scenario())
    kept = database.read_sync(lambda c: c.execute(select(sessions.c.id)).scalars().all())
    assert kept == [session_key(session_id)] and session_id not in kept
