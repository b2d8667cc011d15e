"""The Python client against a real server: the blocking one and the async one, and the
``smsgate send`` command built on it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.client import AsyncSmsClient, SmsApiError, SmsClient
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.services.accounts import AccountAdmin
from smsgate.services.inbound_admin import InboundAdmin
from tests.api.helpers import PHONE, SENDER, wait_for
from tests.commands import smsgate
from tests.conftest import Account
from tests.inbound.helpers import unique_number
from tests.server import ServerProcess

MTS = "79161234567"


def blocking(server: ServerProcess, account: Account) -> SmsClient:
    return SmsClient(server.url, login=account.login, password=account.password)


def test_a_send_is_billed_and_its_state_read(
    server: ServerProcess, make_account: Callable[..., Account]
) -> None:
    account = make_account(balance="10")
    with blocking(server, account) as sms:
        [part] = sms.send_sms(SENDER, PHONE, "Hello")
        assert sms.balance() == Decimal(10) - sms.state(part).price
        delivered = wait_for(lambda: (found := sms.state(part)).state == 0 and found)
        assert delivered.description == "Delivered"
        assert delivered.created is not None and delivered.submitted is not None
        assert delivered.created <= delivered.submitted <= datetime.now(UTC)
        bulk = sms.send_bulk(SENDER, [PHONE, MTS], "a" * 161)  # two parts each
        packet = sms.send_bulk_packet(SENDER, [(PHONE, "One"), (MTS, "Two")])
        assert len(bulk) == 4 and len(packet) == 2
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        tomorrow_at_ten = tomorrow.replace(hour=10, minute=0, tzinfo=None)  # a local time
        scheduled = sms.send_by_time(SENDER, [PHONE, MTS], "Later", tomorrow_at_ten)
        assert [sms.state(part).description for part in scheduled] == ["Scheduled"] * 2
        today = datetime.now(UTC)
        counts = sms.statistic(today - timedelta(hours=1), today + timedelta(hours=1))
        assert counts.sent == 9


def test_errors_are_the_apis(server: ServerProcess, make_account: Callable[..., Account]) -> None:
    account = make_account(balance="0")
    with blocking(server, account) as sms:
        with pytest.raises(SmsApiError) as short:
            sms.send_sms(SENDER, PHONE, "Hello")
        assert (short.value.status, short.value.code) == (403, 5)
        with pytest.raises(SmsApiError) as unregistered:
            sms.send_sms("Not Mine", PHONE, "Hello")
        assert (unregistered.value.status, unregistered.value.code) == (400, 6)
    with (
        pytest.raises(SmsApiError) as wrong,
        SmsClient(server.url, login="nobody", password="x") as sms,
    ):
        sms.balance()
    assert wrong.value.code == 4


def test_a_session_the_server_no_longer_takes_is_opened_again(
    server: ServerProcess, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    gone = "0" * 32  # as one that expired, or was revoked
    with SmsClient(
        server.url, session_id=gone, login=account.login, password=account.password
    ) as sms:
        assert sms.balance() == Decimal(1000)
    with SmsClient(server.url, session_id=gone) as sms, pytest.raises(SmsApiError) as refused:
        sms.balance()  # without a login and password it cannot open one
    assert refused.value.code == 3


def test_the_async_client_reads_incoming_messages(
    server: ServerProcess, admin: AccountAdmin, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    number = unique_number()
    InboundAdmin(admin.database).add_number(account.login, number)
    started = datetime.now(UTC) - timedelta(seconds=1)
    queue_incoming(admin.database, [("79115687451", number, "Pizza, two")])

    async def scenario() -> list[tuple[str, str, str]]:
        async with AsyncSmsClient(
            server.url, login=account.login, password=account.password
        ) as sms:
            ids = await sms.send_sms(SENDER, PHONE, "Hello")
            assert (await sms.state(ids[0])).state in (-1, 0)
            for _ in range(250):
                received = await sms.incoming(started, datetime.now(UTC) + timedelta(seconds=1))
                if received:
                    return [(m.source, m.destination, m.text) for m in received]
                await asyncio.sleep(0.02)
            return []

    assert asyncio.run(scenario()) == [("79115687451", number, "Pizza, two")]


def test_the_readme_example_runs(
    server: ServerProcess, admin: AccountAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## The Python client", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    # The demo account of ``smsgate serve --demo``, on this test's server.
    admin.create("demo", password="demo", balance=Decimal(1000), sender_names=["SMS Info"])
    exec(example.replace("http://127.0.0.1:8080", server.url), {})
    balance, description = capsys.readouterr().out.split()
    assert Decimal(balance) < 1000 and description in ("Sent", "Delivered", "Queued")


def test_the_client_needs_a_way_to_authenticate() -> None:
    with pytest.raises(ValueError, match="session_id, or a login and a password"):
        SmsClient("http://127.0.0.1:9", login="only-a-login")


def test_the_client_imports_nothing_of_the_server() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, smsgate.client; print(*sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(m for m in loaded if m.startswith("smsgate")) == [
        "smsgate",
        "smsgate.client",
        "smsgate.client.calls",
        "smsgate.client.clients",
    ]


def test_send_command(
    server: ServerProcess, make_account: Callable[..., Account], tmp_path: Path
) -> None:
    account = make_account()
    common = ("--from", SENDER, "--url", server.url, "--login", account.login, "--password", "-")
    sent = smsgate(
        tmp_path, "send", "Hello", "--to", PHONE, "--to", MTS, *common, stdin=account.password
    )
    assert sent.returncode == 0, sent.stderr
    ids = json.loads(sent.stdout)
    assert len(ids) == 2 and all(part_id.isdigit() for part_id in ids), ids
    refused = smsgate(tmp_path, "send", "Hello", "--to", "123", *common, stdin=account.password)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: HTTP 400, Code 2: ")
    unnamed = smsgate(tmp_path, "send", "Hello", "--to", PHONE, "--from", SENDER)
    assert (unnamed.returncode, unnamed.stderr) == (
        1,
        "error: give --session, or --login and --password\n",
    )
