"""Checking that the database answers, for the readiness probe."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from smsgate.store.probe import probe, probe_engine

log = logging.getLogger(__name__)

# The probe answers within this even when the database hangs.
PROBE_TIMEOUT = 5.0


class DatabaseProbe:
    """Asks the database a real question on a fresh connection, on a thread of its own: on
    the default executor, a flood of logins (argon2 runs there) made a database that answered
    look down."""

    def __init__(self, url: str) -> None:
        self._engine = probe_engine(url, PROBE_TIMEOUT)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsgate-probe")

    async def check(self) -> str:
        """``"ok"``, or what is wrong: "no answer", or the kind of error. Its text goes to the
        log only: readiness is asked without credentials, and a driver's error names the
        database's host, port and user."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await loop.run_in_executor(self._thread, probe, self._engine)
        except TimeoutError:
            return "no answer"
        except Exception as error:
            # With the error: an outage's probes then log as one line at most every few
            # seconds (``logs.OutageDigest``), however often the probe is asked.
            log.warning("the database probe failed", exc_info=error)
            return type(error).__name__
        return "ok"

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._engine.dispose()
