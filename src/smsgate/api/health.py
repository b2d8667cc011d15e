"""``/readyz``: whether this process can do its work, as JSON; 503 when it cannot.

Ready means the database answers a real query on a fresh connection (a pooled connection can
outlive its SQLite file), the dispatcher's task runs when this process dispatches, and then at
least one of its connectors is up.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from starlette.types import Receive, Scope, Send

from smsgate.api.rest.rendering import send_json
from smsgate.platform import Platform
from smsgate.store.accounts import read_config_revision

# The probe answers within this even when the database hangs.
PROBE_TIMEOUT = 5.0


def probe_engine(url: str) -> Engine:
    """An engine that opens a new connection for every probe, and never creates a database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # mode=rw: a missing file is an error rather than a new, empty database.
        target = f"{Path(parsed.database or '').resolve().as_uri()}?mode=rw"
        return create_engine(
            "sqlite://",
            poolclass=NullPool,
            creator=lambda: sqlite3.connect(target, uri=True, timeout=PROBE_TIMEOUT),
        )
    return create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": int(PROBE_TIMEOUT)}
    )


class Readiness:
    """Checks readiness and answers ``/readyz``."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._probe = probe_engine(platform.database.url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready, report = await self.check()
        await send_json(send, 200 if ready else 503, orjson.dumps(report))

    async def check(self) -> tuple[bool, dict[str, Any]]:
        report: dict[str, Any] = {"database": await self._database()}
        problems = report["database"] != "ok"
        platform = self.platform
        if not platform.settings.dispatch:
            report["dispatcher"] = "off"
        elif platform.dispatcher_running:
            report["dispatcher"] = "running"
            connectors = {name: c.is_up for name, c in platform.router.connectors.items()}
            report["connectors"] = connectors
            problems |= not any(connectors.values())
        else:
            report["dispatcher"] = "not running"
            problems = True
        return not problems, {"ready": not problems, **report}

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await asyncio.to_thread(self._query)
        except TimeoutError:
            return "no answer"
        except Exception as error:
            # The first line names the trouble; SQLAlchemy adds the statement and a link.
            trouble = str(error).partition("\n")[0]
            return f"{type(error).__name__}: {trouble}"
        return "ok"

    def _query(self) -> None:
        with self._probe.connect() as connection:
            read_config_revision(connection)

    def close(self) -> None:
        self._probe.dispose()
