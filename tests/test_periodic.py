import asyncio
import logging

import pytest

from smsgate.periodic import every

log = logging.getLogger("tests.periodic")
INTERVAL = 0.05


def runs_until(count: int, first_now: bool) -> list[bool]:
    """For each run of a job until it has run ``count`` times (its second run fails), whether
    an interval had passed since the start."""

    async def scenario() -> list[bool]:
        loop = asyncio.get_running_loop()
        interval_passed = asyncio.Event()
        loop.call_later(INTERVAL, interval_passed.set)  # before every's own first sleep ends
        runs: list[bool] = []
        enough = asyncio.Event()

        async def job() -> None:
            runs.append(interval_passed.is_set())
            if len(runs) == count:
                enough.set()
            if len(runs) == 2:
                raise RuntimeError("the database went away")

        task = asyncio.create_task(
            every(INTERVAL, job, log=log, failure="job failed", first_now=first_now)
        )
        await asyncio.wait_for(enough.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return runs

    return asyncio.run(scenario())


def test_a_job_runs_at_once_and_goes_on_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    assert runs_until(3, first_now=True) == [False, True, True]
    assert [record.message for record in caplog.records] == ["job failed"]


def test_a_job_can_wait_an_interval_first() -> None:
    assert runs_until(1, first_now=False) == [True]
