"""Abuse limits: lockout after failed logins, and a request rate per account.

Both count in the memory of one process: behind several API processes each keeps its own counts,
so an attacker spread over N processes gets N times the rate (still slowed exponentially).
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from smsgate.backoff import doubled
from smsgate.bounded import keep_newest
from smsgate.domain.errors import FloodDetected, Unauthorized
from smsgate.token_bucket import TokenBucket

# Where the request being served comes from (as a trusted proxy forwarded it); the API sets it
# for each request, so the password checks deep below can count failures by address.
client_address: ContextVar[str | None] = ContextVar("client_address", default=None)

LOCKED_OUT = "Too many failed logins, try again later"
TOO_MANY_REQUESTS = "Too many requests, try again later"
# Keys remembered per kind at most (spraying random logins must not grow memory without bound);
# the one that failed least recently is forgotten first. Keys are cut to MAX_KEY_LENGTH: logins
# have at most 64 characters and addresses fewer, but a client sends what it likes.
MAX_TRACKED = 100_000
MAX_KEY_LENGTH = 100

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``free`` failures in a row are let be; each further one locks the key for ``base``
    seconds, doubling per failure up to ``cap``. Failures are forgotten once the key has been
    quiet for ``cap`` after its lockout ended."""

    free: int
    base: float
    cap: float

    def lockout(self, failures: int) -> float:
        """Seconds the key is locked after its ``failures``-th failure in a row."""
        over = failures - self.free
        if over <= 0:
            return 0.0
        return doubled(self.base, over - 1, self.cap)


class FailureLog:
    """Failures in a row per key, and until when each key is locked."""

    def __init__(self, policy: LockoutPolicy) -> None:
        self.policy = policy
        # key -> (failures in a row, locked until); in order of the last failure
        self._entries: dict[str, tuple[int, float]] = {}

    def locked(self, key: str, now: float) -> bool:
        entry = self._entries.get(key[:MAX_KEY_LENGTH])
        return entry is not None and now < entry[1]

    def failures(self, key: str, now: float) -> int:
        """The key's failures in a row (none once forgotten)."""
        failures, locked_until = self._entries.get(key[:MAX_KEY_LENGTH], (0, now))
        return 0 if now > locked_until + self.policy.cap else failures

    def failed(self, key: str, now: float) -> None:
        key = key[:MAX_KEY_LENGTH]
        failures, locked_until = self._entries.get(key, (0, now))
        if now > locked_until + self.policy.cap:
            failures = 0
        failures += 1
        locked_until = now + self.policy.lockout(failures)
        keep_newest(self._entries, key, (failures, locked_until), MAX_TRACKED)

    def forget(self, key: str) -> None:
        self._entries.pop(key[:MAX_KEY_LENGTH], None)


class LoginThrottle:
    """Locks a login, and a client address, out of password checks after failures.

    While either is locked a login answers Code 4 without its password being checked, so
    guessing runs at most at the policy's pace. Session ids are not affected: an attacker who
    locks a login out does not lock its owner out of the API keys already issued. Nor does a
    login's lockout apply at an address the login has logged in from: anyone could otherwise
    keep an integration that sends login and password with every request locked out for good,
    with a wrong password every few minutes. Such an address still has its own lockout.
    """

    def __init__(
        self, per_login: LockoutPolicy, per_address: LockoutPolicy, clock: Clock = time.monotonic
    ) -> None:
        self._logins = FailureLog(per_login)
        self._addresses = FailureLog(per_address)
        self._clock = clock
        # (login, address) pairs that logged in, the most recent last.
        self._known: dict[tuple[str, str], None] = {}
        # Password checks running, by the address they came from.
        self._checking: Counter[str] = Counter()

    def check(self, login: str) -> None:
        """Raise ``Unauthorized`` while the login or the caller's address is locked."""
        self._admit(login, checking=False)

    def begin(self, login: str) -> None:
        """``check`` before a password check, which is refused too while the address has as
        many running as failures it may still make before it is locked; else it counts as
        running until ``done``."""
        self._admit(login, checking=True)

    def _admit(self, login: str, *, checking: bool) -> None:
        now = self._clock()
        address = _client_key()
        if address is not None and self._addresses.locked(address, now):
            raise Unauthorized(LOCKED_OUT)
        if self._logins.locked(login, now) and _pair(login, address) not in self._known:
            raise Unauthorized(LOCKED_OUT)
        if checking and address is not None:
            # Its checks are counted as they start, not as they fail: 300 guesses at once, at
            # other logins each, were all checked before the first failure locked the address.
            key = address[:MAX_KEY_LENGTH]
            may_fail = max(self._addresses.policy.free - self._addresses.failures(address, now), 0)
            if self._checking[key] > may_fail:
                raise Unauthorized(LOCKED_OUT)
            self._checking[key] += 1

    def done(self) -> None:
        """A check ``begin`` let through has its outcome (failed, succeeded, or neither)."""
        address = _client_key()
        if address is not None:
            key = address[:MAX_KEY_LENGTH]
            self._checking[key] -= 1
            if self._checking[key] <= 0:
                del self._checking[key]

    def failed(self, login: str) -> None:
        now = self._clock()
        self._logins.failed(login, now)
        address = _client_key()
        if address is not None:
            self._addresses.failed(address, now)

    def succeeded(self, login: str) -> None:
        # The address keeps its count: one's own account must not reset guessing at others.
        # Nor does a success let through a lockout at a known address end it: the guessing
        # of others would start again at every login of the owner's integration.
        if not self._logins.locked(login, self._clock()):
            self._logins.forget(login)
        keep_newest(self._known, _pair(login, _client_key()), None, MAX_TRACKED)


def _client_key() -> str | None:
    """Whose failures the request counts toward: its client's address; an IPv6 one by its /64
    (a host commonly has the whole /64 to pick from, so each address of it would have been a
    lockout of its own), and an IPv4 one written as IPv6 (``::ffff:203.0.113.7``) as IPv4."""
    address = client_address.get()
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _pair(login: str, address: str | None) -> tuple[str, str]:
    return login[:MAX_KEY_LENGTH], (address or "")[:MAX_KEY_LENGTH]


class RequestRate:
    """A token bucket per account: ``burst`` requests at once, then ``per_second`` on average;
    a request past it answers Code 10."""

    def __init__(self, per_second: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[int, TokenBucket] = {}

    def ensure_room(self, account_id: int) -> None:
        """Code 10 when a request of the account would be refused now; spends nothing. For
        what costs much before the account is known for sure: a password's hash."""
        bucket = self._buckets.get(account_id)
        if bucket is not None and not bucket.has_token(self._clock()):
            raise FloodDetected(TOO_MANY_REQUESTS)

    def spend(self, account_id: int) -> None:
        now = self._clock()
        bucket = self._buckets.get(account_id)
        if bucket is None:
            bucket = self._buckets[account_id] = TokenBucket(self.per_second, self.burst, now)
        if bucket.take(now):
            raise FloodDetected(TOO_MANY_REQUESTS)
