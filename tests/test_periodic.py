import asyncio
import logging

import pytest

from smsgate.periodic import every

log = logging.getLogger("tests.periodic")


def run_for(seconds: float, first_now: bool) -> list[float]:
    """When the job ran, from the start; its second run fails."""

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        runs: list[float] = []

        async def job() -> None:
            runs.append(loop.time() - started)
            if len(runs) == 2:
                raise RuntimeError("the database went away")

        task = asyncio.create_task(
            every(0.05, job, log=log, failure="job failed", first_now=first_now)
        )
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return runs

    return asyncio.run(scenario())


def test_a_job_runs_at_once_and_goes_on_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    runs = run_for(0.22, first_now=True)
    assert runs[0] < 0.04
    assert len(runs) >= 4  # past the failed second run
    assert [record.message for record in caplog.records] == ["job failed"]


def test_a_job_can_wait_an_interval_first() -> None:
    runs = run_for(0.12, first_now=False)
    assert runs and runs[0] >= 0.05
