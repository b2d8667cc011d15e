"""``/readyz``: whether this process can do its work, as JSON; 503 when it cannot.

Ready means the database answers a real query on a fresh connection (a pooled connection can
outlive its SQLite file) and this process's writes have not been failing since their last
success, the dispatcher's task runs when this process dispatches, and then at least one of its
connectors is up.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from smsgate.api.rest.rendering import send_json
from smsgate.platform import Platform
from smsgate.services.health import DatabaseProbe


class Readiness:
    """Checks readiness and answers ``/readyz``."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._probe = DatabaseProbe(platform.database.url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready, report = await self.check()
        await send_json(send, 200 if ready else 503, orjson.dumps(report))

    async def check(self) -> tuple[bool, dict[str, Any]]:
        report: dict[str, Any] = {"database": await self._probe.check()}
        trouble = self.platform.database.write_trouble
        if report["database"] == "ok" and trouble is not None:
            # It answers, and yet takes no writes (out of disk, its file gone): every send
            # fails. The kind only: the reason is in the log.
            report["database"] = f"writes fail: {trouble.partition(':')[0]}"
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

    def close(self) -> None:
        self._probe.close()
