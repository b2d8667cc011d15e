"""A worker loop's wake-up call."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """Lets a loop that found no work sleep until there may be some: ``wake()`` says there is
    (work queued, an outcome to record, a stop asked for), ``sleep(poll)`` waits for that or
    for ``poll`` seconds, whichever comes first.

    A wake-up that comes while the loop is busy is kept for its next sleep, which then returns
    at once: work queued between the loop's look for it and its sleep does not wait a poll.
    """

    def __init__(self) -> None:
        self._called = asyncio.Event()

    def wake(self) -> None:
        self._called.set()

    async def sleep(self, poll: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._called.wait(), poll)
        self._called.clear()
