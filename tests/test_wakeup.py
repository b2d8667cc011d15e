import asyncio

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
