"""Hypothesis fuzz of paths, methods, parameters and bodies: never a 5xx, always JSON errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smsgate.services.accounts import AccountAdmin
from tests.api.helpers import HTTP_STATUS, JSON_TYPE, assert_error
from tests.server import ServerProcess, http_client

ALIASES = [
    "Session/",
    "Session/session.php",
    "Balance/",
    "Balance/balance.php",
    "Balance/price_list.php",
    "Statistic/originator.php",
    "State/",
    "State/state.php",
    "Statistic/",
    "Statistic/all_stat.php",
    "Send/SendSms/",
    "Send/SendByTime/",
    "Send/SendBulk/",
    "Send/SendBulkPacket/",
    "Incoming/",
]

KNOWN_NAMES = [
    "login",
    "LOGIN",
    "password",
    "pass",
    "sessionId",
    "SessionID",
    "sessionid",
    "messageId",
    "sourceAddress",
    "destinationAddress",
    "destinationAddress[]",
    "destinationAddresses",
    "data",
    "sendDate",
    "validity",
    "callback_url",
    "phone_data",
    "phone_data[sms][0][phone]",
    "phone_data[sms][0][text]",
    "phone_data[sms][1][phone][]",
    "phone_data[sms][][phone]",
    "phone_data[sms]",
    "phone_data[]",
    "phone_data[",
    "phone_data]",
    "phone_data[sms][0",
    "startDateTime",
    "endDateTime",
    "minDateUTC",
    "name_deliver",
    "",
    "[]",
    "[",
    "]",
]

INTERESTING_VALUES = [
    "",
    " ",
    "SMS Info",
    "79001234567",
    "+7 (916) 123-45-67",
    "79001234567,79161234567",
    "79001230000",
    "123",
    "0",
    "-1",
    "1",
    "4320",
    "4321",
    "99999999999999999999999999",
    "1e9",
    "NaN",
    "2024-01-01T00:00:00",
    "2024-01-01 00:00",
    "2024-02-30T00:00",
    "0001-01-01T00:00",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59.9999999",
    "1970-01-01T00:00:00",
    '"123"',
    " 123 ",
    "http://example.com/cb",
    "javascript:alert(1)",
    '{"sms":[{"phone":"79001234567","text":"hi"}]}',
    '{"sms":[{"phone":["79001234567","79161234567"],"text":"hi"}]}',
    '{"sms":[{"phone":79001234567,"text":"hi"}]}',
    '{"sms":[{"phone":null,"text":1}]}',
    '{"sms":{}}',
    '{"sms":[1,[],"x"]}',
    "[]",
    "{}",
    "null",
    '"\\ud83d"',
    '{"sms":[{"phone":"79001234567","text":"\\ud83d"}]}',
    "%zz",
    "%",
    "%e2%82",
    "\x00",
    "😀" * 10,
    "Ж" * 71,
    "€" * 81,
    "a" * 1531,
    "\u202e\ufeff",
    "[sms][0][phone]",
]

unicode_text = st.text(st.characters(codec="utf-8"), max_size=40)
bracket_names = st.builds(
    lambda base, keys: base + "".join(f"[{key}]" for key in keys),
    st.sampled_from(["phone_data", "destinationAddress", "PHONE_DATA", "x", ""]),
    st.lists(
        st.one_of(
            st.sampled_from(["sms", "0", "1", "", "phone", "text", "²", "٣", "-1"]), unicode_text
        ),
        max_size=4,
    ),
)
names = st.one_of(st.sampled_from(KNOWN_NAMES), bracket_names, unicode_text)
huge = st.builds(
    lambda chunk, count: chunk * count,
    st.sampled_from(["a", "Ж", "7", "79001234567,", "%", "[", "€"]),
    st.integers(1_000, 120_000),
)
values = st.one_of(st.sampled_from(INTERESTING_VALUES), unicode_text, huge)
parameters = st.lists(st.tuples(names, values), max_size=8)

PATH_DECORATIONS = ["{}", "{}/", "/{}//", "{}//", "{}/.php", "{}/x"]


def spell(alias: str, decoration: str, upper: bool) -> str:
    path = decoration.format(alias.rstrip("/"))
    return "/rest/" + (path.upper() if upper else path)


paths = st.one_of(
    st.builds(spell, st.sampled_from(ALIASES), st.sampled_from(PATH_DECORATIONS), st.booleans()),
    unicode_text.map(lambda text: "/rest/" + quote(text, safe="/[]")),
    st.sampled_from(["/rest/", "/rest//", "/rest/%00", "/rest/%ff/", "/rest/%zz", "/rest/a%"]),
)
GARBAGE = ["", "", "%zz", "&&=&", "%", "%e2%82%", "a[b]=c[", "=x", "&sessionId", "+%2B+"]
CONTENT_TYPES = [
    None,
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=windows-1251",
    "multipart/form-data",
    "multipart/form-data; boundary=zz",
    "multipart/form-data; boundary=",
    "text/plain",
    "application/json",
    "application/octet-stream",
    "text/html; charset=klingon",
]
# Valid parameters of an endpoint, for the random ones to add to and override, so the fuzz gets
# past the first missing parameter into billing, dates, phones and texts.
BASES: list[list[tuple[str, str]]] = [
    [],
    [("sourceAddress", "SMS Info"), ("destinationAddress", "79001234567"), ("data", "Hi")],
    [("sourceAddress", "SMS Info"), ("destinationAddresses", "79161234567"), ("data", "Hi")],
    [
        ("sourceAddress", "SMS Info"),
        ("phone_data", '{"sms":[{"phone":"79001234567","text":"Hi"}]}'),
    ],
    [
        ("sourceAddress", "SMS Info"),
        ("phone_data[sms][0][phone]", "79161234567"),
        ("phone_data[sms][0][text]", "Hi"),
    ],
    [("startDateTime", "2026-01-01T00:00"), ("endDateTime", "2026-02-01T00:00")],
    [("messageId", "1")],
]
MAX_QUERY = 60_000
ENCODINGS = ["query", "urlencoded", "multipart", "raw", "json", "bytes"]


@dataclass
class Fuzzed:
    url: str
    session_id: str
    login: str
    api_password: str


@pytest.fixture(scope="module")
def fuzzed(server: ServerProcess, admin: AccountAdmin) -> Fuzzed:
    login = f"fuzz-{uuid.uuid4().hex[:8]}"
    admin.create(
        login,
        password="secret-password",
        api_password="api-password",
        balance=Decimal(10**9),
        sender_names=("SMS Info",),
    )
    with http_client(server.url) as client:
        response = client.get(
            "/rest/Session/", params={"login": login, "password": "secret-password"}
        )
    return Fuzzed(server.url, response.json(), login, "api-password")


@pytest.fixture(scope="module")
def http(fuzzed: Fuzzed) -> Iterator[httpx.Client]:
    with http_client(fuzzed.url) as client:
        yield client


def auth_params(kind: str, fuzzed: Fuzzed) -> list[tuple[str, str]]:
    match kind:
        case "session":
            return [("sessionId", fuzzed.session_id)]
        case "pass":
            return [("login", fuzzed.login), ("pass", fuzzed.api_password)]
        case "password":
            return [("login", fuzzed.login), ("password", "secret-password")]
        case "bad_session":
            return [("sessionId", "0" * 32)]
        case "bad_pass":
            return [("login", fuzzed.login), ("pass", "nope")]
    return []


def query_string(params: list[tuple[str, str]], garbage: str) -> str:
    text = urlencode(params, quote_via=quote)
    return "&".join(part for part in (text, garbage) if part)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    assert response.headers.get("content-type") == JSON_TYPE, response.headers
    assert not response.content.endswith(b"\n")
    body: Any = json.loads(response.content)
    if response.status_code != 200:
        assert isinstance(body, dict), response.text[:500]
        assert body.get("Code") in HTTP_STATUS, response.text[:500]
        assert_error(response, body["Code"])


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    path=paths,
    method=st.sampled_from(["GET", "POST"]),
    auth=st.sampled_from(["none", "session", "pass", "password", "bad_session", "bad_pass"]),
    base=st.sampled_from(BASES),
    query=parameters,
    body=parameters,
    garbage=st.sampled_from(GARBAGE),
    encoding=st.sampled_from(ENCODINGS),
    content_type=st.sampled_from(CONTENT_TYPES),
    raw=st.binary(max_size=300),
)
@example(
    path="/rest/Send/SendBulkPacket/",
    method="GET",
    auth="session",
    base=[],
    query=[("sourceAddress", "SMS Info"), ("phone_data[", "1")],
    body=[],
    garbage="",
    encoding="query",
    content_type=None,
    raw=b"",
)
@example(
    path="/rest/Send/SendBulkPacket/",
    method="POST",
    auth="pass",
    base=[],
    query=[],
    body=[
        ("sourceAddress", "SMS Info"),
        ("phone_data[sms][²][phone]", "79001234567"),
        ("phone_data[sms][²][text]", "hi"),
    ],
    garbage="",
    encoding="urlencoded",
    content_type=None,
    raw=b"",
)
@example(
    path="/rest/Balance/",
    method="POST",
    auth="session",
    base=[],
    query=[],
    body=[],
    garbage="",
    encoding="bytes",
    content_type="multipart/form-data",
    raw=b"garbage",
)
@example(
    path="/rest/Send/SendSms/",
    method="POST",
    auth="pass",
    base=[],
    query=[],
    body=[
        ("sourceAddress", "SMS Info"),
        ("destinationAddress", "79001234567"),
        ("data", "hi"),
        ("sendDate", "9999-12-31T23:59:59"),
    ],
    garbage="",
    encoding="urlencoded",
    content_type=None,
    raw=b"",
)
def test_no_request_gets_a_5xx_or_a_non_json_answer(
    http: httpx.Client,
    fuzzed: Fuzzed,
    path: str,
    method: str,
    auth: str,
    base: list[tuple[str, str]],
    query: list[tuple[str, str]],
    body: list[tuple[str, str]],
    garbage: str,
    encoding: str,
    content_type: str | None,
    raw: bytes,
) -> None:
    credentials = auth_params(auth, fuzzed) + base
    if method == "GET" or encoding == "query":
        query, body = credentials + query + body, []
    else:
        body = credentials + body
    if len(query_string(query, garbage)) > MAX_QUERY:
        # uvicorn refuses a request line over 64 KB before the app sees it: big lists go in bodies
        method, encoding, query, body = "POST", "urlencoded", [], query + body
    url = httpx.URL(fuzzed.url).copy_with(
        raw_path=f"{path}?{query_string(query, garbage)}".encode()
    )
    headers = {} if content_type is None else {"Content-Type": content_type}
    if method == "GET":
        response = http.request("GET", url, headers=headers)
    elif encoding in ("query", "urlencoded"):
        content = query_string(body, garbage).encode()
        if content_type is None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = http.post(url, content=content, headers=headers)
    elif encoding == "multipart":
        fields: dict[str, list[str]] = {}
        for name, value in body:
            fields.setdefault(name, []).append(value)
        files = {"file": ("f.bin", raw, "application/octet-stream")}
        response = http.post(url, data=fields, files=files)
    elif encoding == "raw":
        content = "&".join(f"{name}={value}" for name, value in body).encode() + raw
        response = http.post(url, content=content, headers=headers)
    elif encoding == "json":
        headers["Content-Type"] = content_type or "application/json"
        response = http.post(url, content=json.dumps(dict(body)).encode(), headers=headers)
    else:
        response = http.post(url, content=raw, headers=headers)
    check(response)
