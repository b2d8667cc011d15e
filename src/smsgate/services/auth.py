"""Who is calling: session ids and API passwords, with caches that never outlive a change.

Verified credentials are cached as a keyed HMAC of the password (never the password itself), so
``login`` + ``pass`` costs one HMAC per request instead of an argon2 hash. Every cache is dropped
when the configuration revision moves (any admin change), which each process polls, and what a
read begun before the drop found is not cached after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection

from smsgate.bounded import keep_newest
from smsgate.domain.digits import unquoted
from smsgate.domain.errors import Forbidden, InvalidSession, Unauthorized
from smsgate.domain.tariff import Tariff
from smsgate.domain.text import NUL
from smsgate.periodic import every
from smsgate.services.limits import LoginThrottle, RequestRate
from smsgate.services.passwords import verify_against_nothing, verify_password
from smsgate.store import accounts as store
from smsgate.store.database import Database

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"[0-9a-f]{32}")
# Entries a cache keeps at most, the oldest going first: a client that opens a session per
# request must not grow the process without bound.
MAX_CACHED = 100_000

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What a request needs to know about its account, besides the balance."""

    id: int
    login: str
    blocked: bool
    dynamic_sender: bool
    sender_names: frozenset[str]
    tariff: Tariff
    parent_id: int | None
    flood_limit: int | None
    flood_window_seconds: int | None
    # SendByTime's zone for numbers that decide none themselves; None: the platform's.
    timezone: str | None


class Authenticator:
    """Resolves credentials to an ``AccountProfile``; password checks go through ``throttle``
    and, when set, every authenticated request spends from the account's ``rate``."""

    def __init__(
        self,
        database: Database,
        *,
        default_price: Decimal,
        session_ttl: timedelta | None,
        throttle: LoginThrottle,
        rate: RequestRate | None = None,
    ) -> None:
        self.database = database
        self.default_price = default_price
        self.session_ttl = session_ttl
        self.throttle = throttle
        self.rate = rate
        self._key = secrets.token_bytes(32)
        self._sessions: dict[str, tuple[int, datetime | None]] = {}
        self._credentials: dict[str, tuple[int, bytes]] = {}
        self._profiles: dict[int, AccountProfile] = {}
        self._revision: int | None = None
        # Counts the drops, so that a read can tell whether one happened while it waited.
        self._generation = 0
        # Per login: the password checks under way, one at a time (see ``_verified``).
        self._checking: dict[str, tuple[asyncio.Lock, int]] = {}

    def forget(self) -> None:
        self._generation += 1
        self._sessions.clear()
        self._credentials.clear()
        self._profiles.clear()

    async def open_session(self, login: str, password: str) -> str:
        """Check the account password and answer a new session id."""
        account = await self._verified(login, password, use_api_password=False)
        profile = await self.profile(account)
        self._ensure_allowed(profile, rate_spent=True)
        session_id = secrets.token_hex(16)
        now = datetime.now(UTC)
        expires_at = now + self.session_ttl if self.session_ttl else None
        generation = self._generation
        await self.database.write(
            lambda c: store.insert_session(c, session_id, account, now, expires_at)
        )
        self._keep(self._sessions, session_id, (account, expires_at), generation)
        return session_id

    async def by_session(self, session_id: str) -> AccountProfile:
        session_id = unquoted(session_id).lower()
        cached = self._sessions.get(session_id)
        if cached is None:
            if not _SESSION_ID.fullmatch(session_id):
                raise InvalidSession("Invalid session id")
            generation = self._generation
            found = await self.database.lookup(lambda c: store.find_session(c, session_id))
            if found is None:
                raise InvalidSession("Invalid session id")
            self._keep(self._sessions, session_id, found, generation)
            cached = found
        account_id, expires_at = cached
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise Unauthorized("SessionID expired")
        profile = await self.profile(account_id)
        self._ensure_allowed(profile)
        return profile

    async def by_api_password(self, login: str, password: str) -> AccountProfile:
        # Even a cached (known good) password waits out a lockout: else it answers guesses.
        self.throttle.check(login)
        digest = self._digest(password)
        account_id = self._known_password(login, digest)
        verified = account_id is None
        if account_id is None:
            generation = self._generation
            account_id = await self._verified(
                login,
                password,
                use_api_password=True,
                known=lambda: self._known_password(login, digest),
            )
            self._keep(self._credentials, login, (account_id, digest), generation)
        profile = await self.profile(account_id)
        self._ensure_allowed(profile, rate_spent=verified)
        return profile

    def _known_password(self, login: str, digest: bytes) -> int | None:
        """The account of ``login`` when its API password was checked already and is the one
        of ``digest``."""
        cached = self._credentials.get(login)
        if cached is not None and hmac.compare_digest(cached[1], digest):
            return cached[0]
        return None

    async def profile(self, account_id: int) -> AccountProfile:
        return self._profiles.get(account_id) or await self._load(account_id)

    async def _load(self, account_id: int) -> AccountProfile:
        generation = self._generation
        profile = await self.database.lookup(lambda c: self._load_profile(c, account_id))
        self._keep(self._profiles, account_id, profile, generation)
        return profile

    def _keep(self, cache: dict[K, V], key: K, value: V, generation: int) -> None:
        """Cache what a read begun at ``generation`` found, unless the caches were dropped
        since: the read may have seen the database before the admin change that dropped them."""
        if generation != self._generation:
            return
        keep_newest(cache, key, value, MAX_CACHED)

    async def watch_revisions(self, interval: float) -> None:
        """Poll the configuration revision forever, dropping caches when it moves."""
        failure = "checking the configuration revision failed"
        await every(interval, self._check_revision, log=log, failure=failure)

    async def _check_revision(self) -> None:
        revision = await self.database.lookup(store.read_config_revision)
        if revision != self._revision:
            self.forget()
            self._revision = revision

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    async def _verified(
        self,
        login: str,
        password: str,
        *,
        use_api_password: bool,
        known: Callable[[], int | None] | None = None,
    ) -> int:
        # One check of a login's password at a time, its outcome counted before the next is
        # let through: concurrent guesses all passed the lockout's check while the first was
        # still hashing, and so guessed at any pace. ``known``: the account when the check
        # before this one proved the same password (16 clients of one account, their cache
        # just dropped by an admin change, each paid a whole hash after the first).
        lock, users = self._checking.get(login) or (asyncio.Lock(), 0)
        self._checking[login] = (lock, users + 1)
        try:
            async with lock:
                account = known() if known is not None else None
                if account is None:
                    self.throttle.begin(login)
                    try:
                        account = await self._check_password(login, password, use_api_password)
                    except Unauthorized:
                        self.throttle.failed(login)
                        raise
                    finally:
                        self.throttle.done()
                    self.throttle.succeeded(login)
                if self.rate is not None:
                    # Before the next check of the login is let through: it then finds the
                    # account's rate as this request left it (``_check_password``).
                    self.rate.spend(account)
                return account
        finally:
            lock, users = self._checking[login]
            if users == 1:
                del self._checking[login]
            else:
                self._checking[login] = (lock, users - 1)

    async def _check_password(self, login: str, password: str, use_api_password: bool) -> int:
        # No login holds a NUL, and PostgreSQL refuses one even in a query.
        account = (
            None
            if NUL in login
            else await self.database.lookup(lambda c: store.find_account(c, login=login))
        )
        if account is None:
            await asyncio.to_thread(verify_against_nothing, password)
            raise Unauthorized("Invalid login or password")
        if self.rate is not None:
            # The rate is spent once the password proves right: refused anyway, a request
            # must not cost a hash first (20 of them cost 5.5 s of CPU, 19 refused).
            self.rate.ensure_room(account.id)
        password_hash = account.password_hash
        if use_api_password and account.api_password_hash is not None:
            password_hash = account.api_password_hash
        if not await asyncio.to_thread(verify_password, password_hash, password):
            raise Unauthorized("Invalid login or password")
        return account.id

    def _load_profile(self, connection: Connection, account_id: int) -> AccountProfile:
        account = store.find_account(connection, id=account_id)
        if account is None:
            raise InvalidSession("Invalid session id")
        return AccountProfile(
            id=account.id,
            login=account.login,
            blocked=account.blocked,
            dynamic_sender=account.dynamic_sender,
            sender_names=frozenset(store.list_sender_names(connection, account.id)),
            tariff=Tariff(
                account.price if account.price is not None else self.default_price,
                store.read_tariff(connection, account.id),
            ),
            parent_id=account.parent_id,
            flood_limit=account.flood_limit,
            flood_window_seconds=account.flood_window_seconds,
            timezone=account.timezone,
        )

    def _ensure_allowed(self, profile: AccountProfile, *, rate_spent: bool = False) -> None:
        """Forbidden for a blocked account; else the request spends from its rate, unless
        its password check did (``_verified``)."""
        if profile.blocked:
            raise Forbidden("Account is blocked")
        if self.rate is not None and not rate_spent:
            self.rate.spend(profile.id)
