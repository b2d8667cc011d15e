"""A worker's dispatcher hears of parts queued by another process at once (PostgreSQL's
LISTEN/NOTIFY), and keeps listening after its connection is lost."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from smsgate.store.database import Database
from smsgate.store.queue_signal import QueueSignal, listen_for_queued_parts


# PostgreSQL only: one process delivers on SQLite and wakes its own dispatcher
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_queued_parts_wake_a_listener_in_another_process(database: Database) -> None:
    api_side = Database(database.url)  # as an API process

    async def scenario() -> None:
        heard = asyncio.Queue[None]()
        listening = asyncio.create_task(
            listen_for_queued_parts(database.url, lambda: heard.put_nowait(None), retry_seconds=0.1)
        )
        await asyncio.wait_for(heard.get(), 10)  # connected: once for what came before
        signal = QueueSignal(api_side)
        for _ in range(3):
            signal.parts_queued()  # one signal: it is sent after all three
        await asyncio.wait_for(heard.get(), 5)
        await asyncio.sleep(0.2)
        assert heard.empty()

        # The listener's server process ends (a restart): it connects again and says so.
        terminate = text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
        )
        await api_side.read(lambda c: c.execute(terminate))
        await asyncio.wait_for(heard.get(), 10)
        signal.parts_queued()
        await asyncio.wait_for(heard.get(), 5)
        assert heard.empty()
        listening.cancel()

    try:
        asyncio.run(scenario())
    finally:
        api_side.close()
