"""A token bucket: a rate kept on average, with bursts up to a size."""

from __future__ import annotations


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
        tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        return tokens >= 1.0 - 1e-9

    def take(self, now: float) -> float:
        """Take a token: 0.0 if one was there, else the seconds until there is one."""
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        # A hair under 1 counts: waking at the computed time must find the token there.
        if self._tokens >= 1.0 - 1e-9:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
