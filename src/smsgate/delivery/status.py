"""The connectors' live status, for ``smsgate admin connectors`` (another process) to read, and
their gauges for ``/metrics``.

Each process that delivers writes the connectors it runs to a file of its own in
``<data_dir>/connectors/`` (``smsgate.process_files``), the last time with ``running`` false.
An SMPP bind that another worker owns is left out: its owner reports it. A reader merges the
files of the live processes of the folder.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import orjson
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smsgate.delivery.connector import Connector
from smsgate.delivery.connectors.smpp import SmppConnector
from smsgate.delivery.ownership import ExclusiveConnector
from smsgate.process_files import LIVE_SECONDS, publish

STATUS_DIR: Final = "connectors"
STATUS_SUFFIX: Final = ".json"


def status_dir(data_dir: Path) -> Path:
    return data_dir / STATUS_DIR


def _run_here(connector: Connector) -> Connector | None:
    """The connector itself if this process runs it; None for a bind another worker owns."""
    if isinstance(connector, ExclusiveConnector):
        return connector.connector if connector.held else None
    return connector


def connector_status(connector: Connector) -> dict[str, Any] | None:
    """What a connector shows; None for a bind that another worker owns."""
    running = _run_here(connector)
    if running is None:
        return None
    if isinstance(running, SmppConnector):
        return running.status()
    return {"name": running.name, "up": running.is_up}


class ConnectorGauges(Collector):
    """``smsgate_connector_up`` and the SMPP windows of the connectors this process runs (read
    at collect time): a process that delivers nothing, or stands by for a bind, shows none of
    them, so the figures of all processes add up (``smsgate.sibling_metrics``)."""

    def __init__(self, connectors: Callable[[], Mapping[str, Connector]]) -> None:
        self.connectors = connectors

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "smsgate_connector_up", "Whether a connector can submit (bound).", labels=["connector"]
        )
        used = GaugeMetricFamily(
            "smsgate_connector_window_used",
            "Submits awaiting the SMSC's answer, per SMPP session.",
            labels=["connector", "session"],
        )
        size = GaugeMetricFamily(
            "smsgate_connector_window_size",
            "Submits a session may have awaiting an answer.",
            labels=["connector", "session"],
        )
        for name, connector in self.connectors().items():
            running = _run_here(connector)
            if running is None:
                continue
            up.add_metric([name], running.is_up)
            if isinstance(running, SmppConnector):
                for session in running.sessions:
                    used.add_metric([name, session.name], session.window_used)
                    size.add_metric([name, session.name], session.config.window)
        yield from (up, used, size)


def connectors_status(connectors: Mapping[str, Connector], running: bool) -> dict[str, Any]:
    shown = (connector_status(connector) for connector in connectors.values())
    return {
        "pid": os.getpid(),
        "updated_at": time.time(),
        "running": running,
        "connectors": [status for status in shown if status is not None],
    }


async def publish_status(connectors: Mapping[str, Connector], data_dir: Path) -> None:
    """Write this process's status every second until cancelled (see ``process_files``)."""
    await publish(
        status_dir(data_dir),
        STATUS_SUFFIX,
        lambda running: orjson.dumps(
            connectors_status(connectors, running), option=orjson.OPT_INDENT_2
        ),
    )


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The connectors of the live processes of ``data_dir`` (or, when none is live, of the one
    that stopped last, every one down and its binds stopped), each with the ``pid`` running
    it; None if no process wrote any."""
    statuses = []
    for path in status_dir(data_dir).glob(f"*{STATUS_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError, orjson.JSONDecodeError):
            statuses.append(orjson.loads(path.read_bytes()))
    if not statuses:
        return None
    now = time.time()
    live = [s for s in statuses if s["running"] and now - s["updated_at"] < LIVE_SECONDS]
    shown = sorted(live, key=lambda s: s["pid"]) or [max(statuses, key=lambda s: s["updated_at"])]
    return {
        "running": bool(live),
        "updated_at": max(status["updated_at"] for status in shown),
        "pids": [status["pid"] for status in shown],
        "connectors": [
            {**connector, "pid": status["pid"]} if live else _stopped(connector, status["pid"])
            for status in shown
            for connector in status["connectors"]
        ],
    }


def _stopped(connector: dict[str, Any], pid: int) -> dict[str, Any]:
    """A connector as its process left it, shown as no longer running."""
    stopped = {**connector, "up": False, "pid": pid}
    if "sessions" in connector:
        stopped["sessions"] = [
            {**session, "state": "stopped", "window_used": 0} for session in connector["sessions"]
        ]
    return stopped
