"""The Python client against a real server: the blocking one and the async one, and the
``smsgate send`` command built on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.client import AsyncSmsClient, SmsApiError, SmsClient, calls
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.services.accounts import AccountAdmin
from smsgate.services.inbound_admin import InboundAdmin
from tests.api.helpers import PHONE, SENDER, wait_for
from tests.commands import smsgate
from tests.conftest import Account
from tests.inbound.helpers import unique_number
from tests.server import ServerProcess, free_port

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


def test_destinations_given_as_a_string_are_the_numbers_it_lists() -> None:
    # Joined letter by letter, "79161234567" was eleven one-digit numbers (Code 2).
    numbers = f"{PHONE}, {MTS}"
    bulk = calls.send_bulk(SENDER, numbers, "Hi")
    by_time = calls.send_by_time(SENDER, PHONE, "Hi", datetime(2030, 1, 1, 10))
    assert bulk.params["destinationAddresses"] == numbers
    assert by_time.params["destinationAddress"] == PHONE
    assert calls.send_bulk(SENDER, iter([PHONE, MTS]), "Hi").params["destinationAddresses"] == (
        f"{PHONE},{MTS}"
    )


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


@contextlib.contextmanager
def answering(body: bytes | None) -> Iterator[str]:
    """A server that answers every request 200 with ``body``, or reads it and never answers
    (None); its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed
                return
            held.append(connection)
            connection.recv(65536)
            if body is not None:
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                connection.sendall(f"{head}Content-Type: application/json\r\n\r\n".encode() + body)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for connection in held:
            connection.close()


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (b'{"status": "ok"}', lambda client: client.send_sms(SENDER, PHONE, "Hi")),
        (b"", lambda client: client.send_sms(SENDER, PHONE, "Hi")),
        (b"{}", lambda client: client.balance()),
        (b'["not a session"]', lambda client: client.balance()),
    ],
)
def test_an_answer_that_is_not_the_apis_is_an_error(
    body: bytes, call: Callable[[SmsClient], object]
) -> None:
    # {"status": "ok"} read as the ids ["status"]; an empty body or {} raised a TypeError.
    with (
        answering(body) as url,
        SmsClient(url, login="a", password="b") as client,
        pytest.raises(SmsApiError) as caught,
    ):
        call(client)
    assert caught.value.code is None and "not the API's answer" in caught.value.desc


def test_an_error_crosses_a_process_pool() -> None:
    error = SmsApiError(400, 2, "Invalid phone number: 123")
    again = pickle.loads(pickle.dumps(error))
    assert (again.status, again.code, again.desc, str(again)) == (
        400,
        2,
        "Invalid phone number: 123",
        "HTTP 400, Code 2: Invalid phone number: 123",
    )


def test_send_command_tells_a_lost_answer_from_a_server_it_cannot_reach(tmp_path: Path) -> None:
    # A send whose answer never came said "cannot reach": sent again, billed twice.
    common = ("--to", PHONE, "--from", SENDER, "--session", "x" * 32, "--timeout", "0.5")
    with answering(None) as url:
        silent = smsgate(tmp_path, "send", "Hello", "--url", url, *common)
    assert silent.returncode == 1
    assert f"error: no answer from {url} (" in silent.stderr
    assert "the server may have taken the request" in silent.stderr
    down = smsgate(tmp_path, "send", "Hello", "--url", f"http://127.0.0.1:{free_port()}", *common)
    assert down.returncode == 1 and "error: cannot reach http://127.0.0.1:" in down.stderr
