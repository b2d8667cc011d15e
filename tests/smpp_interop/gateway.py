"""A real smsgate server whose connectors bind to independent SMSCs, and what tests ask of it."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import smpp34

from smsgate.delivery.status import read_status
from tests.api.helpers import Deployment, assert_ok, creds, statistic, wait_for
from tests.conftest import Account
from tests.server import free_port
from tests.smpp_interop.smsc import PASSWORD, SYSTEM_ID

# Short backoffs, so that a test sees a bind come back within a second.
TEST_CONNECTOR = {
    "host": "127.0.0.1",
    "system_id": SYSTEM_ID,
    "password": PASSWORD,
    "reconnect_delay": 0.1,
    "reconnect_max_delay": 0.5,
    "response_timeout": 3.0,
}


def settings_file(
    path: Path,
    connectors: Mapping[str, Mapping[str, object]],
    routes: Sequence[tuple[str, Sequence[str]]],
) -> Path:
    """A TOML settings file with these SMPP connectors and (prefix, connectors) routes."""
    lines = ['smsc = "smpp"']
    for name, options in connectors.items():
        lines.append(f"\n[connectors.{name}]")
        # JSON strings, numbers, booleans and arrays of them are TOML as they are.
        lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    for prefix, names in routes:
        lines += [
            "\n[[routes]]",
            f"prefix = {json.dumps(prefix)}",
            f"connectors = {json.dumps(names)}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def send_bulk(
    account: Account, numbers: Sequence[str], text: str, sender: str = "SMS Info"
) -> list[str]:
    response = account.client.post(
        "/rest/Send/SendBulk/",
        data={
            **creds(account),
            "sourceAddress": sender,
            "destinationAddresses": ",".join(numbers),
            "data": text,
        },
    )
    ids = assert_ok(response)
    assert isinstance(ids, list), ids
    return [str(part_id) for part_id in ids]


def numbers(prefix: str, count: int) -> list[str]:
    """``count`` distinct valid mobile numbers starting with ``prefix`` (4 digits)."""
    return [f"{prefix}{i:07d}" for i in range(count)]


def wait_delivered(account: Account, count: int, timeout: float = 30.0) -> dict[str, int]:
    """The account's statistic once ``count`` parts are Delivered; then no part is elsewhere."""
    figures = wait_for(lambda: (f := statistic(account))["Delivered"] == count and f, timeout, 0.1)
    assert figures["NotDelivered"] == figures["InProgress"] == figures["Expired"] == 0, figures
    return figures


@dataclass
class RustSmsc:
    """``smpp34.Server`` (an independent SMPP implementation in Rust) that sends each receipt
    before it answers the submit_sm, so the receipt always overtakes its resp.

    Message ids are answered with leading zeros (``00000007``) and written without them in
    the receipt text (``id:7``), as SMSCs do; the two must still match.
    """

    port: int = field(default_factory=free_port)
    receipt_statuses: list[int] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RustSmsc:
        self._thread.start()
        assert self._ready.wait(10), "smpp34 server did not start"
        return self

    def _run(self) -> None:
        self._task = self._loop.create_task(self._serve())
        self._loop.run_until_complete(asyncio.gather(self._task, return_exceptions=True))

    async def _serve(self) -> None:
        server = smpp34.Server("127.0.0.1", self.port, system_id="rust-smsc")
        await server.start()
        self._ready.set()
        sessions: dict[str, smpp34.Esme] = {}
        ids = itertools.count(1)
        try:
            while True:
                event = await server.next()
                if isinstance(event, smpp34.Esme):
                    sessions[event.session_id] = event
                elif isinstance(event, smpp34.Unbound):
                    sessions.pop(event.session_id, None)
                elif isinstance(event, smpp34.SubmitSmEvent):
                    number = next(ids)
                    now = datetime.now(UTC).strftime("%y%m%d%H%M%S")
                    receipt = (
                        f"id:{number} sub:001 dlvrd:001 submit date:{now} done date:{now} "
                        "stat:DELIVRD err:000 text:"
                    )
                    answer = await sessions[event.session_id].deliver_sm(
                        destination_addr=event.source_addr,
                        source_addr=event.destination_addr,
                        esm_class=0x04,
                        short_message=receipt.encode(),
                    )
                    self.receipt_statuses.append(answer.command_status)
                    self.submitted.append(event.destination_addr)
                    event.accept(f"{number:08d}")
        finally:
            await server.stop()

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


def connector_status(deployment: Deployment) -> dict[str, Any] | None:
    """The status the server writes for ``smsgate admin connectors``, by connector name; None
    until it first writes it (a SQLite server starts its connectors once it holds the delivery
    lease, which may come after its HTTP port answers)."""
    status = read_status(deployment.process.workdir / "var")
    if status is None:
        return None
    return {connector["name"]: connector for connector in status["connectors"]}
