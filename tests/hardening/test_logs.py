"""Logs: one structured line per request with its request id (also in any Code 9 answer), and
never a password or a session id."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from smsgate import logs
from smsgate.api.rest import router
from smsgate.api.rest.call import ApiCall
from smsgate.api.rest.router import RestApp
from smsgate.config import Settings
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.logs import (
    ACCESS_FORMAT,
    ACCESS_LOGGER,
    REDACTED,
    LineFormatter,
    LogFormat,
    LogListener,
    LogQueue,
    redact,
)
from smsgate.platform import Platform
from tests.api.helpers import Deployment, assert_error, assert_ok, creds
from tests.hardening.conftest import Ops
from tests.hardening.helpers import log_until_now, request_lines, server_log

SESSION_ID = "0123456789abcdef0123456789abcdef"


def record(msg: str, *args: object, name: str = "smsgate.test") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def access_record(path: str) -> logging.LogRecord:
    args = ("00000000deadbeef", "GET", path, "balance", "0", 200, 0.5, "127.0.0.1")
    return record(ACCESS_FORMAT, *args, name=ACCESS_LOGGER)


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("login=bob&pass=hunter2&x=1", f"login=bob&pass={REDACTED}&x=1"),
        ("password=hunter2", f"password={REDACTED}"),
        (
            "{'password': 'hunter2', 'login': 'bob'}",
            f"{{'password': '{REDACTED}', 'login': 'bob'}}",
        ),
        ('"sessionId": "abc"', f'"sessionId": "{REDACTED}"'),
        ("SessionID=ABC&api_password=x", f"SessionID={REDACTED}&api_password={REDACTED}"),
        (f"session {SESSION_ID.upper()} gone", f"session {REDACTED} gone"),
        (f"/rest/Balance/{SESSION_ID}/", f"/rest/Balance/{REDACTED}/"),
        ("passport=1 and 0123456789abcdef", "passport=1 and 0123456789abcdef"),
        # A password holds spaces, commas and semicolons; only its first piece went.
        (
            "/rest/Balance?login=a&pass=Hunter2;Tail&x=1",
            f"/rest/Balance?login=a&pass={REDACTED}&x=1",
        ),
        ("password=hunter2 TailPart", f"password={REDACTED}"),
        ("pass=x,ZZtop", f"pass={REDACTED}"),
        ('{"pass": "a b, c", "x": 1}', f'{{"pass": "{REDACTED}", "x": 1}}'),
        ("pass%3DLoneTok", f"pass%3D{REDACTED}"),  # a path encoded twice
        (
            "/rest/Session/%3Flogin%3Ddemo%26password%3DHunter2Secret",
            f"/rest/Session/%3Flogin%3Ddemo%26password%3D{REDACTED}",
        ),
        ('?login=a&password=Hunter2"Secret', f"?login=a&password={REDACTED}"),
        ("password=Hunter2'Secret&x=1", f"password={REDACTED}&x=1"),
        (f"/rest/Balance/x{SESSION_ID}", f"/rest/Balance/x{REDACTED}"),
        ("sha256=" + "ab" * 32, "sha256=" + "ab" * 32),
    ],
)
def test_secrets_are_scrubbed_from_text(text: str, scrubbed: str) -> None:
    assert redact(text) == scrubbed


def test_a_request_line_has_its_fields_as_key_value_pairs_on_one_line() -> None:
    line = LineFormatter("kv").format(access_record('/rest/a b"\nlevel=forged'))
    assert re.fullmatch(
        r"ts=\S+Z level=info logger=smsgate\.access request_id=00000000deadbeef method=GET "
        r'path="/rest/a b\\"\\nlevel=forged" endpoint=balance code=0 status=200 ms=0\.5 '
        r"client=127\.0\.0\.1",
        line,
    ), line


def test_a_request_line_in_json_has_its_fields_as_members() -> None:
    fields = orjson.loads(LineFormatter("json").format(access_record(f"/rest/{SESSION_ID}")))
    del fields["ts"]
    assert fields == {
        "level": "info",
        "logger": ACCESS_LOGGER,
        "request_id": "00000000deadbeef",
        "method": "GET",
        "path": f"/rest/{REDACTED}",
        "endpoint": "balance",
        "code": "0",
        "status": 200,
        "ms": 0.5,
        "client": "127.0.0.1",
    }


class StalledStream(io.StringIO):
    """A stderr nobody reads (a log driver stalled, a pipe paused): a write waits until
    ``flowing`` is set, ``writing`` says one does."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.flowing = threading.Event()

    def write(self, text: str) -> int:
        self.writing.set()
        self.flowing.wait(timeout=30)
        return super().write(text)


def test_lines_past_the_queue_bound_are_dropped_and_counted_while_stderr_stalls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Held, they grew the process by 440 bytes a request until it ran out of memory.
    monkeypatch.setattr(logs, "MAX_QUEUED", 100)
    entries = LogQueue()
    stream = StalledStream()
    listener = LogListener(entries, logs._BufferedWriter(stream, LineFormatter("kv")))
    listener.start()

    def request(number: int) -> logs.AccessEntry:
        return time.time(), (f"{number:016x}", "GET", "/healthz", "health", "", 200, 0.1, "::1")

    entries.put_nowait(request(0))
    assert stream.writing.wait(timeout=10)  # the listener waits on stderr from now on
    for number in range(1, 1_001):
        entries.put_nowait(request(number))
    assert entries.dropped == 900
    stream.flowing.set()
    listener.stop()
    written = stream.getvalue().splitlines()
    assert sum(f"logger={ACCESS_LOGGER}" in line for line in written) == 101
    [told] = [line for line in written if "log lines dropped" in line]
    assert 'msg="900 log lines dropped' in told and "level=warning" in told


class CountedQueue(LogQueue):
    """Counts the listener's looks at the queue."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def get_nowait(self) -> logs.LogEntry | None:
        self.looks += 1
        return super().get_nowait()


def test_an_idle_listener_waits_for_entries_instead_of_polling() -> None:
    """It looked at the queue twenty times a second for as long as the process ran."""
    entries = CountedQueue()
    stream = io.StringIO()
    listener = LogListener(entries, logs._BufferedWriter(stream, LineFormatter("kv")))
    listener.start()
    threading.Event().wait(0.5)
    assert entries.looks <= 1
    for number in range(3):
        entries.put_nowait((time.time(), (f"{number:016x}", "GET", "/", "h", "", 200, 0.1, "")))
    listener.stop()
    assert len(stream.getvalue().splitlines()) == 3


def test_a_message_and_its_traceback_are_scrubbed() -> None:
    try:
        raise RuntimeError(f"query failed: sessionId={SESSION_ID}")
    except RuntimeError:
        failed = record("calling %s with pass=%s", "/rest/Balance", "hunter2")
        failed.exc_info = sys.exc_info()
    styles: tuple[LogFormat, ...] = ("kv", "json")
    for style in styles:
        line = LineFormatter(style).format(failed)
        assert "hunter2" not in line and SESSION_ID not in line, line
        assert "\n" not in line and "RuntimeError" in line, line


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    opened = Platform.open(
        Settings(database_url=f"sqlite:///{tmp_path / 'smsgate.db'}", data_dir=tmp_path)
    )
    yield opened
    opened.close()


def test_a_code_9_answer_names_the_request_id_of_its_log_lines(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(call: ApiCall) -> None:
        raise RuntimeError("the unexpected")

    monkeypatch.setitem(router.ROUTES, "balance", broken)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=RestApp(platform))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/rest/Balance/", params={"sessionId": SESSION_ID})

    with caplog.at_level(logging.INFO):
        response = asyncio.run(call())
    desc = assert_error(response, 9)
    match = re.fullmatch(r"Internal server error, request id ([0-9a-f]{16})", desc)
    assert match, desc
    request_id = match.group(1)
    (failure,) = [r for r in caplog.records if r.name == router.__name__]
    (access,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert failure.getMessage() == f"request {request_id} to /rest/Balance/ failed"
    assert failure.exc_info is not None
    assert access.name == ACCESS_LOGGER and isinstance(access.args, tuple) and access.args
    assert access.args[0] == request_id and access.args[3:6] == ("broken", "9", 500)


def test_no_log_line_holds_a_password_or_a_session_id(shared: Deployment) -> None:
    account = shared.make_account()
    session_id = account.session_id()
    client = shared.client
    secrets = [account.password, account.api_password, session_id, "wrong-guess"]
    assert_ok(client.get("/rest/Balance/", params={"sessionId": session_id}))
    assert_ok(client.post("/rest/Balance/", data=creds(account)))
    assert_ok(client.post("/rest/Balance/", files={"sessionId": (None, session_id)}))
    assert_error(client.get("/rest/Balance/", params={**creds(account), "pass": "wrong-guess"}), 4)
    login = {"login": account.login, "password": "wrong-guess"}
    assert_error(client.post("/rest/Session/", data=login), 4)
    # A path is logged, whatever a client puts in it.
    unknown = client.get(f"/rest/Balance/{session_id}/pass=wrong-guess")
    assert_error(unknown, 6)
    log = log_until_now(shared)
    for secret in secrets:
        assert secret not in log, secret
    logged = "\n".join(request_lines(log))
    assert f'path="/rest/Balance/{REDACTED}/pass={REDACTED}"' in logged


def test_logs_can_be_json_lines(ops: Ops) -> None:
    deployment = ops.deployment
    account = deployment.make_account()
    assert_ok(deployment.client.get("/rest/Balance/", params=creds(account)))
    log = log_until_now(deployment)
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(lines) == len(log.splitlines()), log
    requests = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert [(r["endpoint"], r["code"], r["status"]) for r in requests[:1]] == [
        ("balance", "0", 200)
    ]
    assert {"ts", "level", "request_id", "method", "path", "ms", "client"} <= set(requests[0])


def test_request_lines_and_lower_levels_can_be_turned_off(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(log_level="warning", access_log="false")
    account = deployment.make_account()
    assert_ok(deployment.client.get("/rest/Balance/", params=creds(account)))
    # A warning after the request: once it is written, so is everything logged before it.
    # Too long for an SMS (the CLI would refuse it): the simulated SMSC drops it with a warning.
    queue_incoming(deployment.database, [("79115687451", "79001234567", "x" * 2000)])
    log = server_log(deployment, "rejected incoming message")
    assert "level=warning" in log
    assert "level=info" not in log and "logger=smsgate.access" not in log, log
