"""Waits that double after each failure in a row, up to a cap: how every retry backs off."""

from __future__ import annotations

import random

# 2**62 times any base is beyond every cap; keeps the float in range.
_MAX_DOUBLINGS = 62


def doubled(base: float, times: int, cap: float, jitter: float = 0.0) -> float:
    """``base`` doubled ``times`` times (none for 0 or less), at most ``cap``, less up to
    ``jitter`` of itself: what failed together (binds dropped by one SMSC restart) does not all
    come back at the same instant."""
    delay = min(cap, base * (1 << min(max(times, 0), _MAX_DOUBLINGS)))
    return delay * (1.0 - jitter * random.random()) if jitter else delay
