import asyncio

import pytest

from smsgate.wakeup import Wakeup


def test_a_wake_while_busy_ends_the_next_sleep_at_once() -> None:
    async def scenario() -> tuple[float, float]:
        wakeup = Wakeup()
        loop = asyncio.get_running_loop()
        wakeup.wake()  # work queued while the loop looked for work
        started = loop.time()
        await wakeup.sleep(5.0)
        at_once = loop.time() - started
        # Taken by that sleep: the next one waits for its poll.
        started = loop.time()
        await wakeup.sleep(0.05)
        return at_once, loop.time() - started

    at_once, polled = asyncio.run(scenario())
    assert at_once < 1.0
    assert polled >= 0.05


def test_a_wake_ends_a_sleep() -> None:
    async def scenario() -> float:
        wakeup = Wakeup()
        loop = asyncio.get_running_loop()
        started = loop.time()
        loop.call_later(0.05, wakeup.wake)
        await wakeup.sleep(5.0)
        return loop.time() - started

    assert 0.04 <= asyncio.run(scenario()) < 1.0


@pytest.mark.parametrize("ticks", range(8))
def test_a_loop_woken_as_it_is_cancelled_stops(ticks: int) -> None:
    """A stop cancels a worker loop in its sleep; a wake-up (a push finished, work queued) may
    come in the same turn of the event loop. Python 3.11's ``asyncio.wait_for`` then returned
    as if woken and dropped the cancellation (cpython#86296): the loop went on for good, and
    its stop waited for ever. Cancelled some ticks after the wake-up, it must stop each time."""

    async def scenario() -> None:
        wakeup = Wakeup()
        rounds = 0

        async def worker_loop() -> None:
            nonlocal rounds
            while True:
                rounds += 1
                await wakeup.sleep(60.0)

        task = asyncio.create_task(worker_loop())
        await asyncio.sleep(0)  # the loop sleeps
        wakeup.wake()
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait({task}, timeout=2)
        stopped = task.cancelled()
        task.cancel()  # went on: a second cancel stops it, so that the test ends
        assert stopped, f"the loop went on after its cancellation ({rounds} rounds)"

    asyncio.run(scenario())
