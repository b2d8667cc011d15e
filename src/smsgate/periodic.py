"""Jobs a process runs every so often for as long as it runs: sweeps, refreshes, checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn


async def every(
    interval: float,
    job: Callable[[], Awaitable[object]],
    *,
    log: logging.Logger,
    failure: str,
    first_now: bool = True,
) -> NoReturn:
    """Run ``job`` every ``interval`` seconds until cancelled: at once, or after an interval
    when not ``first_now`` (what it looks for cannot be there yet at start). A failure goes to
    ``log`` as ``failure``, and the next run comes as usual."""
    if not first_now:
        await asyncio.sleep(interval)
    while True:
        try:
            await job()
        except Exception:
            log.exception(failure)
        await asyncio.sleep(interval)
