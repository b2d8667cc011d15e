"""The connectors' live status, written by the server that runs them for ``smsgate admin
connectors`` (another process) to read: ``<data_dir>/connectors.json``, replaced whole every
second, and once more with ``running`` false when the server stops."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson

from smsgate.delivery.connector import Connector
from smsgate.delivery.connectors.smpp import SmppConnector

STATUS_FILE: Final = "connectors.json"
INTERVAL: Final = 1.0


def status_path(data_dir: Path) -> Path:
    return data_dir / STATUS_FILE


def connectors_status(connectors: Mapping[str, Connector], running: bool) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "updated_at": time.time(),
        "running": running,
        "connectors": [
            connector.status()
            if isinstance(connector, SmppConnector)
            else {"name": name, "up": connector.is_up}
            for name, connector in connectors.items()
        ],
    }


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the file whole, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written.write_bytes(orjson.dumps(status, option=orjson.OPT_INDENT_2))
    written.replace(path)


async def publish_status(connectors: Mapping[str, Connector], path: Path) -> None:
    """Write the status every ``INTERVAL`` seconds until cancelled."""
    try:
        while True:
            write_status(path, connectors_status(connectors, running=True))
            await asyncio.sleep(INTERVAL)
    finally:
        write_status(path, connectors_status(connectors, running=False))


def read_status(path: Path) -> dict[str, Any] | None:
    """The last status written, None if no server wrote one here."""
    try:
        status: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    return status
