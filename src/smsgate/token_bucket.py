"""A token bucket: a rate kept on average, with bursts up to a size."""

from __future__ import annotations

# A hair under 1 counts: waking at the computed time must find the token there.
_WHOLE_TOKEN = 1.0 - 1e-9


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``."""

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._updated = now

    def has_token(self, now: float) -> bool:
        """Whether a ``take`` now would find a token; takes none."""
        return self._refilled(now) >= _WHOLE_TOKEN

    def take(self, now: float) -> float:
        """Take a token: 0.0 if one was there, else the seconds until there is one."""
        self._tokens = self._refilled(now)
        self._updated = now
        if self._tokens >= _WHOLE_TOKEN:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def _refilled(self, now: float) -> float:
        return min(self._burst, self._tokens + (now - self._updated) * self._rate)
