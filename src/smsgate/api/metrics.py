"""``/metrics``: what each process counts and the connectors it runs (summed over the
processes of the data folder, ``smsgate.sibling_metrics``), and figures read at scrape time.

The queue and the webhook backlog cost one query per scrape, never anything per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Receive, Scope, Send

from smsgate.api.rest.rendering import send_json
from smsgate.platform import Platform
from smsgate.services import reading
from smsgate.sibling_metrics import SiblingCounts

log = logging.getLogger(__name__)

NOT_FOUND = b'{"error":"not found"}'
# A scrape answers within this when the database does not (smsgate_database_up 0 then), rather
# than hang until the scraper gives up and shows nothing of this process.
QUEUE_READ_SECONDS = 5.0


class PlatformFigures(Collector):
    """The figures of one scrape, gathered by ``refresh`` on the event loop before it."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._read_at = datetime.now(UTC)
        self._queue: reading.QueueFigures | None = None

    async def refresh(self) -> None:
        now = datetime.now(UTC)
        try:
            async with asyncio.timeout(QUEUE_READ_SECONDS):
                self._queue = await reading.queue_figures(self.platform.database, now)
        except TimeoutError:
            log.warning("reading queue figures: no answer in %s s", QUEUE_READ_SECONDS)
            self._queue = None
        except Exception as error:  # the scrape still shows everything else
            log.warning("reading queue figures failed: %s", error)
            self._queue = None
        self._read_at = now

    def collect(self) -> Iterator[Metric]:
        queue = self._queue
        yield GaugeMetricFamily(
            "smsgate_database_up",
            "Whether the scrape's query of the database succeeded.",
            value=queue is not None,
        )
        if queue is not None:
            yield GaugeMetricFamily(
                "smsgate_queue_depth",
                "Parts not yet taken by an SMSC (queued, scheduled or being submitted).",
                value=queue.depth,
            )
            waited = 0.0
            if queue.oldest_due is not None:
                waited = max(0.0, (self._read_at - queue.oldest_due).total_seconds())
            yield GaugeMetricFamily(
                "smsgate_queue_oldest_due_age_seconds",
                "How long the longest-waiting due part has been due (0: none waits).",
                value=waited,
            )
            yield GaugeMetricFamily(
                "smsgate_webhook_backlog",
                "Instant pushes and status callbacks not yet taken by their receivers.",
                value=queue.webhook_backlog,
            )


class MetricsApp:
    """Answers ``/metrics`` in the Prometheus text format (on its own port, nothing else)."""

    def __init__(self, platform: Platform) -> None:
        self.registry = CollectorRegistry()
        counts = SiblingCounts(platform.own_metrics(), platform.settings.data_dir)
        for collector in (counts, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.figures = PlatformFigures(platform)
        self.registry.register(self.figures)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            await send_json(send, 404, NOT_FOUND)
            return
        await self.figures.refresh()
        body = generate_latest(self.registry)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
