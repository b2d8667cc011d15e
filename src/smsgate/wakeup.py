"""A worker loop's wake-up call."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set, or ``seconds`` have passed.

    Not ``asyncio.wait_for``: on Python 3.11 it drops a cancellation that comes in the turn of
    the event loop in which the event is set (cpython#86296), and a loop told to stop then
    goes on for good. ``asyncio.timeout`` keeps it, and makes no task per wait.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


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
        await wait_at_most(self._called, poll)
        self._called.clear()
