"""Checking that the database answers, for the readiness probe."""

from __future__ import annotations

import asyncio

from smsgate.store.probe import probe, probe_engine

# The probe answers within this even when the database hangs.
PROBE_TIMEOUT = 5.0


class DatabaseProbe:
    """Asks the database a real question on a fresh connection."""

    def __init__(self, url: str) -> None:
        self._engine = probe_engine(url, PROBE_TIMEOUT)

    async def check(self) -> str:
        """``"ok"``, or what is wrong in one line."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await asyncio.to_thread(probe, self._engine)
        except TimeoutError:
            return "no answer"
        except Exception as error:
            # The first line names the trouble; SQLAlchemy adds the statement and a link.
            trouble = str(error).partition("\n")[0]
            return f"{type(error).__name__}: {trouble}"
        return "ok"

    def close(self) -> None:
        self._engine.dispose()
