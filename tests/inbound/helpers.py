"""Helpers of the incoming-message tests: injecting messages and reading them back."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.services.inbound_admin import InboundAdmin
from smsgate.store.schema import push_jobs, simulator_inbox
from tests.api.helpers import Deployment, assert_ok, creds, wait_for
from tests.conftest import Account

SENDER_PHONE = "79115687451"
_API_DATE = re.compile(r"/Date\((\d+)\)/")


@dataclass
class Inbound:
    """A server of the incoming-message tests, with its admin and its simulated SMSC."""

    deployment: Deployment

    @property
    def admin(self) -> InboundAdmin:
        return InboundAdmin(self.deployment.database)

    def account(self, webhook: str | None = None, secret: str | None = None) -> Account:
        account = self.deployment.make_account()
        if webhook is not None:
            self.admin.set_webhook(account.login, webhook, secret)
        return account

    def inject(self, destination: str, text: str, source: str = SENDER_PHONE) -> None:
        """Hand a message to the simulated SMSC, as ``smsgate simulate incoming`` does."""
        queue_incoming(self.deployment.database, [(source, destination, text)])

    def spooled(self) -> list[Any]:
        """Messages the simulated SMSC has not yet delivered."""
        return self.deployment.database.read_sync(
            lambda c: list(c.execute(select(simulator_inbox)))
        )

    def push_jobs(self) -> list[Any]:
        """The rows of the push queue."""
        return self.deployment.database.read_sync(
            lambda c: list(c.execute(select(push_jobs).order_by(push_jobs.c.id)))
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``smsgate`` with the server's settings, in its folder."""
        process = self.deployment.process
        return subprocess.run(
            [sys.executable, "-m", "smsgate", *args],
            cwd=process.workdir,
            env=process.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )


def unique_number() -> str:
    """A fresh incoming number, so tests on the shared server keep to their own."""
    return str(uuid.uuid4().int)[:11]


def api_moment(moment: datetime) -> str:
    """A request date to the microsecond (the API cuts longer fractions)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_api_date(text: str) -> datetime:
    match = _API_DATE.fullmatch(text)
    assert match, text
    return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)


def incoming(account: Account, start: datetime, end: datetime) -> list[dict[str, Any]]:
    response = account.client.get(
        "/rest/Incoming/",
        params={**creds(account), "minDateUTC": api_moment(start), "maxDateUTC": api_moment(end)},
    )
    body = assert_ok(response)
    assert isinstance(body, list), body
    return body


def all_incoming(account: Account) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return incoming(account, now - timedelta(days=1), now + timedelta(days=1))


def wait_incoming(account: Account, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The account's messages once there are ``count`` of them."""

    def enough() -> list[dict[str, Any]]:
        found = all_incoming(account)
        return found if len(found) >= count else []

    return wait_for(enough, timeout)
