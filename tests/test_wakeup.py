import asyncio

from smsgate.wakeup import Wakeup


def slept(wakeup: Wakeup, poll: float) -> float:
    async def sleep() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await wakeup.sleep(poll)
        return loop.time() - started

    return asyncio.run(sleep())


def test_a_wake_while_busy_ends_the_next_sleep_at_once() -> None:
    wakeup = Wakeup()
    wakeup.wake()  # work queued while the loop looked for work
    assert slept(wakeup, 5.0) < 0.5
    # Taken by that sleep: the next one waits for its poll.
    assert slept(wakeup, 0.05) >= 0.05


def test_a_wake_ends_a_sleep() -> None:
    async def scenario() -> float:
        wakeup = Wakeup()
        loop = asyncio.get_running_loop()
        started = loop.time()
        loop.call_later(0.05, wakeup.wake)
        await wakeup.sleep(5.0)
        return loop.time() - started

    assert 0.04 <= asyncio.run(scenario()) < 1.0
