"""Request rules of API.md: paths and aliases, methods, encodings, names, empty values, answers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from smsgate.api.rest.params import MIN_FIELD_LIMIT, field_limit
from smsgate.config import Settings
from smsgate.services.accounts import AccountAdmin, AdminError
from tests.api.helpers import (
    JSON_TYPE,
    PHONE,
    SENDER,
    assert_error,
    assert_ids,
    assert_json,
    assert_ok,
    balance,
    creds,
    message_rows,
    state,
    wait_for,
    whole_period,
)
from tests.conftest import Account
from tests.hardening.helpers import connect, read_response

SESSION_ID = re.compile(r'"[0-9a-f]{32}"')
OTHER_PHONE = "79161234567"
PACKET = json.dumps({"sms": [{"phone": PHONE, "text": "Hello"}]})


def endpoint_params(kind: str, account: Account) -> dict[str, str]:
    """Parameters that make the endpoint answer 200 (login+pass auth except for Session)."""
    if kind == "session":
        return {"login": account.login, "password": account.password}
    params = creds(account)
    match kind:
        case "state":
            params["messageId"] = "999999999999"
        case "statistic":
            params.update(whole_period())
        case "send":
            params.update(sourceAddress=SENDER, destinationAddress=PHONE, data="Hello")
        case "by_time":
            # A local time long past: due now in any zone.
            params.update(
                sourceAddress=SENDER,
                destinationAddress=PHONE,
                data="Hello",
                sendDate="2020-01-01T10:00:00",
            )
        case "incoming":
            period = whole_period()
            params.update(minDateUTC=period["startDateTime"], maxDateUTC=period["endDateTime"])
        case "bulk":
            params.update(
                sourceAddress=SENDER, destinationAddresses=f"{PHONE},{OTHER_PHONE}", data="Hello"
            )
        case "packet":
            params.update(sourceAddress=SENDER, phone_data=PACKET)
    return params


def check_answer(kind: str, response: httpx.Response) -> None:
    """The 200 answer each endpoint gives ``endpoint_params`` of a fresh account."""
    body = assert_ok(response)
    match kind:
        case "session":
            assert SESSION_ID.fullmatch(response.text), response.text
        case "balance":
            assert response.text == "1000"
        case "price_list":
            assert body == {"sms": {"default": {"R": "0.5"}}}
        case "originator":
            assert body == [SENDER]
        case "state":
            assert body["State"] == 255 and body["StateDescription"] == "Unknown", body
        case "statistic":
            assert body == {
                "Sent": 0,
                "Delivered": 0,
                "NotDelivered": 0,
                "InProgress": 0,
                "InProcess": 0,
                "Expired": 0,
                "DeliveryRatio": 0,
            }
        case "send" | "by_time" | "packet":
            assert_ids(body, 1)
        case "incoming":
            assert body == []
        case "bulk":
            assert_ids(body, 2)
        case _:
            raise AssertionError(kind)


ALIASES = [
    ("Session/", "session"),
    ("Session/session.php", "session"),
    ("Balance/", "balance"),
    ("Balance/balance.php", "balance"),
    ("Balance/price_list.php", "price_list"),
    ("Statistic/originator.php", "originator"),
    ("State/", "state"),
    ("State/state.php", "state"),
    ("Statistic/", "statistic"),
    ("Send/SendSms/", "send"),
    ("Send/SendByTime/", "by_time"),
    ("Send/SendBulk/", "bulk"),
    ("Send/SendBulkPacket/", "packet"),
    ("Incoming/", "incoming"),
]


def spellings(alias: str) -> list[str]:
    """The alias as written, without and with a trailing slash, and with doubled slashes."""
    bare = alias.rstrip("/")
    candidates = [
        f"/rest/{alias}",
        f"/rest/{bare}",
        f"/rest/{bare}/",
        f"/rest/{bare}//",
        f"/rest//{bare.replace('/', '//')}//",
    ]
    return list(dict.fromkeys(candidates))


PATHS = [(path, kind) for alias, kind in ALIASES for path in spellings(alias)]


@pytest.fixture
def account(make_account: Callable[..., Account]) -> Account:
    return make_account(price=Decimal("0.5"))


@pytest.mark.parametrize(("path", "kind"), PATHS)
def test_every_alias_and_slash_spelling_answers_get(account: Account, path: str, kind: str) -> None:
    response = account.client.get(path, params=endpoint_params(kind, account))
    check_answer(kind, response)


def urlencoded(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    return client.post(path, data=params)


def multipart(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    # A file part forces multipart/form-data; the API reads the fields and ignores files.
    response = client.post(path, data=params, files={"attachment": ("a.txt", b"login=nobody")})
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    return response


def test_a_multipart_packet_of_thousands_of_fields_is_read(account: Account) -> None:
    """Two fields a recipient, as PHP clients post a packet: past Starlette's default of 1,000."""
    count = 1_500
    params = {**creds(account), "sourceAddress": SENDER}
    for i in range(count):
        params[f"phone_data[sms][{i}][phone]"] = f"7916{i:07d}"
        params[f"phone_data[sms][{i}][text]"] = "Hello"
    response = multipart(account.client, "/rest/Send/SendBulkPacket/", params)
    assert_ids(assert_ok(response), count)


def test_the_server_answers_while_a_large_multipart_body_is_parsed(account: Account) -> None:
    """Multipart fields are parsed in Python, some µs each: half a million held the event
    loop, and every other request, 8 s."""
    fields = b"".join(
        b'--cut\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % index
        for index in range(100_000)
    )
    headers = {"Content-Type": "multipart/form-data; boundary=cut"}
    waits: list[float] = []
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        large = pool.submit(
            account.client.post, "/rest/Balance/", content=fields + b"--cut--\r\n", headers=headers
        )
        # Asked again and again while it runs: one of them arrives while the body is parsed
        # (a fixed pause found the parse over on a fast machine).
        while not large.done():
            asked = time.monotonic()
            assert account.client.get("/healthz").is_success
            waits.append(time.monotonic() - asked)
        assert_error(large.result(), 1)  # no credentials among the fields
        took = time.monotonic() - started
    assert waits, f"the large body was answered at once ({took:.2f} s): nothing was asked"
    assert max(waits) < took / 2, (
        f"/healthz waited {max(waits):.2f} s of the large body's {took:.2f}"
    )


def raw_text(params: dict[str, str]) -> bytes:
    """Unencoded UTF-8 ``k=v&k=v`` as some clients send it."""
    return "&".join(f"{name}={value}" for name, value in params.items()).encode()


def raw_body(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    response = client.post(path, content=raw_text(params))
    assert "content-type" not in response.request.headers
    return response


def raw_plain(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    return client.post(
        path, content=raw_text(params), headers={"Content-Type": "text/plain; charset=utf-8"}
    )


ENCODINGS = {
    "urlencoded": urlencoded,
    "multipart": multipart,
    "raw": raw_body,
    "text/plain": raw_plain,
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize(("alias", "kind"), ALIASES)
def test_every_endpoint_answers_post_in_every_encoding(
    account: Account, alias: str, kind: str, encoding: str
) -> None:
    response = ENCODINGS[encoding](account.client, f"/rest/{alias}", endpoint_params(kind, account))
    check_answer(kind, response)


@pytest.mark.parametrize("path", ["/rest/session/", "/rest/SESSION/SESSION.PHP", "/rest/sEsSiOn"])
def test_path_case_does_not_matter(account: Account, path: str) -> None:
    check_answer("session", account.client.get(path, params=endpoint_params("session", account)))


@pytest.mark.parametrize(
    "path", ["/rest", "/rest/", "/rest/Nothing/", "/rest/Session/nothing.php", "/rest/Send/"]
)
def test_unknown_path_is_a_json_error(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert_error(response, 6)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_utf8_text_arrives_intact(admin: AccountAdmin, account: Account, encoding: str) -> None:
    text = "Привет, мир! Ёжик 😀 + €"
    params = endpoint_params("send", account) | {"data": text}
    ids = assert_ok(ENCODINGS[encoding](account.client, "/rest/Send/SendSms/", params))
    assert_ids(ids, 1)
    assert message_rows(admin.database, ids)[int(ids[0])].text == text


def stored_texts(admin: AccountAdmin, response: httpx.Response) -> list[str]:
    ids = assert_ok(response)
    rows = message_rows(admin.database, ids)
    return [rows[int(part_id)].text for part_id in ids]


@pytest.mark.parametrize(
    "text", ["Скидка 50% на всё + подарок", "Code 100%25 ok", "a+b c", "x%2By €"]
)
def test_a_raw_body_keeps_the_clients_plus_and_percent(
    admin: AccountAdmin, account: Account, text: str
) -> None:
    # A field with a raw space or non-ASCII character was not urlencoded (the guide's own
    # examples send such bodies): its "+" and "%" are text.
    params = endpoint_params("send", account) | {"data": text}
    assert stored_texts(admin, raw_body(account.client, "/rest/Send/SendSms/", params)) == [text]


def test_an_encoded_field_of_a_raw_body_is_still_decoded(
    admin: AccountAdmin, account: Account
) -> None:
    params = endpoint_params("send", account) | {"data": "a%2Bb+c"}
    texts = stored_texts(admin, raw_body(account.client, "/rest/Send/SendSms/", params))
    assert texts == ["a+b c"]


@pytest.mark.parametrize("charset", ["windows-1251", "cp1251", '"windows-1251"', "koi8-r"])
def test_a_body_in_its_declared_charset(
    admin: AccountAdmin, account: Account, charset: str
) -> None:
    codec = charset.strip('"')
    params = endpoint_params("send", account) | {"data": "Привет, мир"}
    content_type = f"application/x-www-form-urlencoded; charset={charset}"
    for content in (
        urlencode(params, encoding=codec),
        "&".join(f"{name}={value}" for name, value in params.items()).encode(codec),  # raw
    ):
        response = account.client.post(
            "/rest/Send/SendSms/", content=content, headers={"Content-Type": content_type}
        )
        assert stored_texts(admin, response) == ["Привет, мир"]


def test_utf8_escapes_under_another_declared_charset_are_utf8(
    admin: AccountAdmin, account: Account
) -> None:
    # Java's HttpCore names ISO-8859-1 in the Content-Type of a body of UTF-8 %-escapes.
    params = endpoint_params("send", account) | {"data": "Привет, мир"}
    response = account.client.post(
        "/rest/Send/SendSms/",
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1"},
    )
    assert stored_texts(admin, response) == ["Привет, мир"]


def test_text_that_is_not_utf8_is_code_2_and_nothing_is_sent(account: Account) -> None:
    params = endpoint_params("send", account)
    cp1251 = urlencode(params | {"data": "Привет"}, encoding="cp1251")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for response in (
        account.client.post("/rest/Send/SendSms/", content=cp1251, headers=headers),
        account.client.get(f"/rest/Send/SendSms/?{cp1251}"),
        account.client.post(
            "/rest/Send/SendSms/",
            content=urlencode(params).encode() + b"&data=\xcf\xf0\xe8",  # raw cp1251 octets
            headers=headers,
        ),
    ):
        assert "not utf-8 text" in assert_error(response, 2)
    assert balance(account) == 1000


@pytest.mark.parametrize("declared", ["", "; charset=utf-8"])
def test_a_multipart_field_that_is_not_utf8_is_code_2_and_nothing_is_sent(
    account: Account, declared: str
) -> None:
    """A cp1251 PHP script posting an array with curl sends multipart: its text was read as
    Latin-1 and sent, billed, as "Ïðèâåò"."""
    fields = [(name, value.encode()) for name, value in endpoint_params("send", account).items()]
    fields.append(("data", "Привет".encode("cp1251")))
    body = b"".join(
        b'--cut\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
        for name, value in fields
    )
    response = account.client.post(
        "/rest/Send/SendSms/",
        content=body + b"--cut--\r\n",
        headers={"Content-Type": f"multipart/form-data; boundary=cut{declared}"},
    )
    assert "not utf-8 text" in assert_error(response, 2)
    assert balance(account) == 1000


def test_a_multipart_field_in_its_declared_charset(admin: AccountAdmin, account: Account) -> None:
    fields = [*endpoint_params("send", account).items(), ("data", "Привет, мир")]
    body = "".join(
        f'--cut\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    )
    response = account.client.post(
        "/rest/Send/SendSms/",
        content=f"{body}--cut--\r\n".encode("cp1251"),
        headers={"Content-Type": "multipart/form-data; boundary=cut; charset=windows-1251"},
    )
    assert stored_texts(admin, response) == ["Привет, мир"]


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"])
def test_methods_other_than_get_and_post_are_refused_and_send_nothing(
    account: Account, method: str
) -> None:
    """A link checker's HEAD or a browser's CORS preflight (OPTIONS) sent, and billed, an SMS."""
    params = endpoint_params("send", account)
    response = account.client.request(method, "/rest/Send/SendSms/", params=params)
    assert response.status_code == 400
    if method != "HEAD":
        assert "not allowed: use GET or POST" in assert_error(response, 6)
    assert balance(account) == 1000


# punycode: its decoder's time is quadratic in the body (640 KB held the server 16 s), and
# its errors were a 500.
NOT_CHARSETS = ["klingon", "base64", "", "undefined", "idna", "punycode", "unicode-escape"]


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_an_unknown_charset_is_code_2(account: Account, charset: str) -> None:
    for body in (urlencode(creds(account)), "sessionId=.."):
        response = account.client.post(
            "/rest/Balance/",
            content=body,
            headers={"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"},
        )
        assert "charset" in assert_error(response, 2)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_an_unknown_charset_of_a_multipart_body_is_code_2(account: Account, charset: str) -> None:
    fields = "".join(
        f'--cut\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in creds(account).items()
    )
    response = account.client.post(
        "/rest/Balance/",
        content=f"{fields}--cut--\r\n",
        # The boundary quoted with a charset in it: the field's own charset is the one read.
        headers={
            "Content-Type": f'multipart/form-data; boundary="cut"; charset={charset}',
        },
    )
    assert "charset" in assert_error(response, 2)


def test_a_flood_of_fields_is_code_2_and_a_bulk_of_300000_fields_in_php_form_is_not(
    make_account: Callable[..., Account],
) -> None:
    account = make_account(balance="0")
    limit = field_limit(Settings.model_fields["max_body_bytes"].default)  # the test server's
    assert limit > MIN_FIELD_LIMIT
    flood = urlencode(creds(account)) + "&x" * limit
    response = account.client.post("/rest/Balance/", content=flood)
    assert "parameters" in assert_error(response, 2)
    # phone_data[sms][i][phone], [text] and a field it ignores for the 100,000 recipients a
    # request may hold, 300,000 fields, are read whole (the limit grows with the body's): with
    # no credit for them the answer is Code 5.
    params = endpoint_params("send", account)
    del params["destinationAddress"]
    fields = "".join(
        f"&phone_data[sms][{i}][phone]=7900{1_000_001 + i:07d}&phone_data[sms][{i}][text]=Hi"
        f"&phone_data[sms][{i}][note]=x"
        for i in range(100_000)
    )
    response = account.client.post("/rest/Send/SendBulkPacket/", content=urlencode(params) + fields)
    assert assert_error(response, 5) == "Not enough credits: the request costs 100000"


def test_a_byte_order_mark_before_the_body(account: Account) -> None:
    content = "\ufeff".encode() + urlencode(creds(account)).encode()
    response = account.client.post("/rest/Balance/", content=content)
    assert assert_ok(response) == 1000


def test_php_indexed_lists_are_lists(admin: AccountAdmin, account: Account) -> None:
    # http_build_query(["destinationAddresses" => [...]]) writes name[0]=..&name[1]=..
    params = endpoint_params("send", account)
    del params["destinationAddress"]
    body = urlencode(params) + f"&destinationAddresses%5B1%5D={OTHER_PHONE}"
    body += f"&destinationAddresses%5B0%5D={PHONE}"
    response = account.client.post(
        "/rest/Send/SendBulk/",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    ids = assert_ok(response)
    rows = message_rows(admin.database, ids)
    assert [rows[int(part_id)].destination for part_id in ids] == [PHONE, OTHER_PHONE]


def test_multipart_fields_sent_as_files_are_read(account: Account) -> None:
    # Python's requests with files= gives every part a file name.
    files = {name: (name, value.encode()) for name, value in creds(account).items()}
    assert assert_ok(account.client.post("/rest/Balance/", files=files)) == 1000


def test_php_json_encode_forms_of_phone_data(admin: AccountAdmin, account: Account) -> None:
    # An array with a gap in its keys is written as an object; a numeric string as a number.
    sparse = {"sms": {"0": {"phone": PHONE, "text": 42}, "2": {"phone": OTHER_PHONE, "text": "Hi"}}}
    params = creds(account) | {"sourceAddress": SENDER, "phone_data": json.dumps(sparse)}
    texts = stored_texts(admin, account.client.post("/rest/Send/SendBulkPacket/", data=params))
    assert texts == ["42", "Hi"]
    params["phone_data"] = json.dumps({"sms": [{"phone": PHONE, "text": True}]})
    assert_error(account.client.post("/rest/Send/SendBulkPacket/", data=params), 2)


def test_raw_unencoded_cyrillic_counts_as_characters(account: Account) -> None:
    params = endpoint_params("send", account)
    for length, parts in ((70, 1), (71, 2)):
        params["data"] = "Ж" * length
        assert_ids(assert_ok(raw_body(account.client, "/rest/Send/SendSms/", params)), parts)


def test_raw_utf8_in_the_query_reads_as_the_client_meant_it(
    admin: AccountAdmin, account: Account
) -> None:
    # As curl, wget and PHP's file_get_contents send a URL written with Cyrillic in it: llhttp
    # refused it ("Invalid HTTP request received."), where the original service's IIS reads it.
    params = endpoint_params("send", account) | {"data": "Сервер_недоступен"}
    target = "/rest/Send/SendSms/?" + "&".join(f"{k}={v}" for k, v in params.items())
    request = f"GET {target.replace(' ', '%20')} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    pieces = [
        [request],  # the connection's first request
        [request[:-41], request[-41:]],  # the next, its request line cut within a letter
        [request[:8], request[8:]],  # and cut before its first non-ASCII byte
    ]
    answers = []
    with connect(account.client.base_url.port or 80) as sock:
        for sends in pieces:
            for piece in sends:
                sock.sendall(piece)
                time.sleep(0.05)
            answers.append(read_response(sock))
    assert [answer.status for answer in answers] == [200, 200, 200], answers[-1].body
    ids = [part_id for answer in answers for part_id in assert_ids(answer.json(), 1)]
    assert {row.text for row in message_rows(admin.database, ids).values()} == {params["data"]}


@pytest.mark.parametrize(
    ("names", "path", "kind"),
    [
        ({"login": "LOGIN", "password": "PASSWORD"}, "/rest/Session/", "session"),
        ({"login": "Login", "password": "Password"}, "/rest/Session/", "session"),
        ({"login": "LOGIN", "pass": "PASS"}, "/rest/Balance/", "balance"),
        ({"login": "lOgIn", "pass": "Pass"}, "/rest/Balance/", "balance"),
        (
            {
                "login": "Login",
                "pass": "Pass",
                "sourceAddress": "SOURCEADDRESS",
                "destinationAddress": "DestinationAddress",
                "data": "DATA",
            },
            "/rest/Send/SendSms/",
            "send",
        ),
        (
            {"login": "LOGIN", "pass": "PASS", "startDateTime": "STARTDATETIME"},
            "/rest/Statistic/",
            "statistic",
        ),
    ],
)
def test_parameter_names_are_case_insensitive(
    account: Account, names: dict[str, str], path: str, kind: str
) -> None:
    params = {
        names.get(name, name): value for name, value in endpoint_params(kind, account).items()
    }
    check_answer(kind, account.client.get(path, params=params))
    check_answer(kind, account.client.post(path, data=params))


@pytest.mark.parametrize("name", ["sessionId", "SessionID", "sessionid", "SESSIONID", "SessionId"])
def test_session_id_name_casing(account: Account, name: str) -> None:
    session_id = account.session_id()
    check_answer("balance", account.client.get("/rest/Balance/", params={name: session_id}))
    check_answer("balance", account.client.post("/rest/Balance/", data={name: session_id}))
    response = account.client.get(
        "/rest/State/", params={name: session_id, "MessageID": "999999999999"}
    )
    check_answer("state", response)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_body_wins_over_query(account: Account, encoding: str) -> None:
    post = ENCODINGS[encoding]
    right = {"login": account.login, "password": account.password}
    wrong = {"login": account.login, "password": "wrong-password"}
    path = "/rest/Session/?" + str(httpx.QueryParams(wrong))
    check_answer("session", post(account.client, path, right))
    path = "/rest/Session/?" + str(httpx.QueryParams(right))
    assert_error(post(account.client, path, wrong), 4)
    session_id = account.session_id()
    path = "/rest/Balance/?sessionId=" + "0" * 32
    check_answer("balance", post(account.client, path, {"sessionId": session_id}))
    path = f"/rest/Balance/?sessionId={session_id}"
    assert_error(post(account.client, path, {"sessionId": "f" * 32}), 3)


def test_an_empty_body_value_hides_no_query_value(account: Account) -> None:
    # Empty values count as absent: the query's session id stands.
    path = f"/rest/Balance/?sessionId={account.session_id()}"
    check_answer("balance", account.client.post(path, data={"sessionId": ""}))


def test_a_parameter_nested_too_deep_is_an_invalid_argument(account: Account) -> None:
    # 1,200 levels: read whole, it ran out of Python's recursion (a 500).
    name = "phone_data" + "[a]" * 1200
    response = account.client.post(
        "/rest/Send/SendBulkPacket/", data=endpoint_params("send", account) | {name: "1"}
    )
    assert_error(response, 2)


@pytest.mark.parametrize("fields", [("login", "password"), ("login", "pass")])
def test_a_multipart_value_decoded_to_a_lone_surrogate_is_a_wrong_password(
    account: Account, fields: tuple[str, str]
) -> None:
    # A part may name any charset: UTF-7 turns "+2AA-" into half a surrogate pair, which
    # neither the password hash nor the database could take (a 500).
    login, secret = fields
    body = (
        f'--X\r\nContent-Disposition: form-data; name="{login}"\r\n\r\n{account.login}\r\n'
        f'--X\r\nContent-Disposition: form-data; name="{secret}"\r\n\r\n+2AA-\r\n--X--\r\n'
    ).encode()
    content_type = "multipart/form-data; charset=utf-7; boundary=X"
    path = "/rest/Session/" if secret == "password" else "/rest/Balance/"
    response = account.client.post(path, content=body, headers={"content-type": content_type})
    assert_error(response, 4)


def test_a_multipart_type_on_a_request_without_a_body_reads_the_query(account: Account) -> None:
    path = f"/rest/Balance/?sessionId={account.session_id()}"
    response = account.client.get(path, headers={"content-type": "multipart/form-data"})
    check_answer("balance", response)


def test_query_and_body_are_merged(account: Account) -> None:
    query = {"login": account.login, "sourceAddress": SENDER}
    body = {"pass": account.api_password, "destinationAddress": PHONE, "data": "Hello"}
    response = account.client.post("/rest/Send/SendSms/", params=query, data=body)
    assert_ids(assert_ok(response), 1)


def test_empty_validity_means_the_default(admin: AccountAdmin, account: Account) -> None:
    params = endpoint_params("send", account) | {"validity": ""}
    ids = assert_ok(account.client.get("/rest/Send/SendSms/", params=params))
    row = message_rows(admin.database, ids)[int(ids[0])]
    assert row.expires_at - row.due_at == timedelta(minutes=1440)
    params["validity"] = "7"
    ids = assert_ok(account.client.get("/rest/Send/SendSms/", params=params))
    row = message_rows(admin.database, ids)[int(ids[0])]
    assert row.expires_at - row.due_at == timedelta(minutes=7)


@pytest.mark.parametrize(
    ("path", "params", "desc"),
    [
        # Digits to str.isdigit() but not to int(): "²", "٣".
        ("/rest/State/", {"messageId": "²"}, "Invalid messageId: ²"),
        ("/rest/State/", {"messageId": "٣"}, "Invalid messageId: ٣"),
        # More digits than int() reads (4,300).
        ("/rest/State/", {"messageId": "9" * 5000}, None),
        ("/rest/Send/SendSms/", {"validity": "9" * 5000}, None),
        ("/rest/Send/SendBulkPacket/", {f"phone_data[sms][{'9' * 5000}][phone]": PHONE}, None),
        ("/rest/statistic/all_stat.php", {"id_report": "²"}, "Id report not found"),
    ],
    ids=["superscript id", "arabic-indic id", "long id", "long validity", "long index", "report"],
)
def test_numbers_int_cannot_read_are_invalid_arguments(
    account: Account, path: str, params: dict[str, str], desc: str | None
) -> None:
    """Code 2 and 400 with the value named, where int() would raise (a 500, Code 9)."""
    base = endpoint_params("send", account) if "Send" in path else creds(account)
    response = account.client.post(path, data=base | params)
    assert_error(response, 2, desc)


def test_an_id_as_long_as_a_clients_long_is_unknown_not_invalid(account: Account) -> None:
    assert state(account, str(2**63 - 1))["State"] == 255
    too_long = creds(account) | {"messageId": str(2**63)}
    assert_error(account.client.post("/rest/State/", data=too_long), 2)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/rest/State/", "messageId"),
        ("/rest/Send/SendSms/", "validity"),
        ("/rest/Send/SendSms/", "sendDate"),
        ("/rest/Send/SendSms/", "callback_url"),
        ("/rest/Send/SendSms/", "destinationAddress"),
        ("/rest/Send/SendSms/", "sourceAddress"),
    ],
)
def test_an_error_repeats_a_long_value_cut(account: Account, path: str, name: str) -> None:
    """A bad value of megabytes is not answered back whole."""
    base = endpoint_params("send", account) if "Send" in path else creds(account)
    response = account.client.post(path, data=base | {name: "x" + "9" * 1_000_000})
    desc = assert_error(response, 6 if name == "sourceAddress" else 2)
    assert "x" + "9" * 59 + "..." in desc and len(desc) < 200, desc[:300]


def test_an_unknown_path_is_repeated_cut(account: Account) -> None:
    response = account.client.get("/rest/" + "x" * 60_000)
    desc = assert_error(response, 6)
    assert desc.startswith("Unknown method /rest/xxx") and len(desc) < 100, desc[:300]


def test_a_tariff_prefix_is_ascii_digits(admin: AccountAdmin, account: Account) -> None:
    """A prefix the tariff could not use would answer every send of the account Code 2."""
    for prefix in ("²", "79a", "1" * 16, ""):
        with pytest.raises(AdminError, match="prefix must be 1-15 digits"):
            admin.set_tariff(account.login, prefix, Decimal("0.5"))
    assert_ok(account.client.post("/rest/Send/SendSms/", data=endpoint_params("send", account)))


def test_empty_send_date_means_now(admin: AccountAdmin, account: Account) -> None:
    params = endpoint_params("send", account) | {"sendDate": "", "callback_url": ""}
    ids = assert_ok(account.client.post("/rest/Send/SendSms/", data=params))
    row = message_rows(admin.database, ids)[int(ids[0])]
    assert row.due_at == row.created_at
    assert row.callback_url is None
    assert state(account, ids[0])["StateDescription"] != "Scheduled"


def test_empty_session_id_counts_as_absent(account: Account) -> None:
    response = account.client.get("/rest/Balance/", params={"sessionId": "", **creds(account)})
    check_answer("balance", response)
    response = account.client.get("/rest/Balance/", params={"sessionId": ""})
    assert_error(response, 1, "sessionId can not be null or empty")


@pytest.mark.parametrize("name", ["data", "sourceAddress", "destinationAddress"])
def test_empty_required_value_is_missing(account: Account, name: str) -> None:
    params = endpoint_params("send", account) | {name: ""}
    response = account.client.post("/rest/Send/SendSms/", data=params)
    assert_error(response, 1, f"{name} can not be null or empty")


UNKNOWN = {
    "name_deliver": "x",
    "sourceAddress": SENDER,
    "messageId": "123",
    "pass": "whatever",
    "foo": "bar",
    "phone_data[sms][0][phone]": "1",
    "": "empty-name",
}


@pytest.mark.parametrize(("alias", "kind"), ALIASES)
def test_unknown_parameters_are_ignored(account: Account, alias: str, kind: str) -> None:
    params = {name: value for name, value in UNKNOWN.items() if name.lower() != "messageid"}
    params = params | endpoint_params(kind, account)
    if kind == "session":
        params["pass"] = "not-the-password"
    check_answer(kind, account.client.get(f"/rest/{alias}", params=params))


def test_session_answer_is_a_fresh_lowercase_hex_string(account: Account) -> None:
    params = {"login": account.login, "password": account.password}
    first = account.client.get("/rest/Session/", params=params)
    second = account.client.post("/rest/Session/session.php", data=params)
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["content-type"] == JSON_TYPE
        assert SESSION_ID.fullmatch(response.text), response.text
        assert response.content == response.text.encode("ascii")
    assert first.json() != second.json()
    for session_id in (first.json(), second.json()):
        check_answer(
            "balance", account.client.get("/rest/Balance/", params={"sessionId": session_id})
        )


@pytest.mark.parametrize("amount", ["1000", "20015.3", "0.0001", "0", "123456789.25"])
def test_balance_is_a_bare_number_exactly_as_credited(
    make_account: Callable[..., Account], amount: str
) -> None:
    account = make_account(balance=amount)
    for path in ("/rest/Balance/", "/rest/Balance/balance.php"):
        response = account.client.get(path, params={"sessionId": account.session_id()})
        body = assert_ok(response)
        assert isinstance(body, int | float)
        assert Decimal(response.text) == Decimal(amount)
        assert response.text == format(Decimal(amount).normalize(), "f")


def test_balance_follows_admin_credit(admin: AccountAdmin, account: Account) -> None:
    admin.credit(account.login, Decimal("0.35"))
    response = account.client.get("/rest/Balance/", params=creds(account))
    assert assert_ok(response) == 1000.35
    assert response.text == "1000.35"


def price_list(account: Account) -> Any:
    return assert_ok(account.client.get("/rest/Balance/price_list.php", params=creds(account)))


def test_price_list_reflects_the_tariff(admin: AccountAdmin, account: Account) -> None:
    assert price_list(account) == {"sms": {"default": {"R": "0.5"}}}
    admin.set_tariff(account.login, "7916", Decimal("0.35"))
    admin.set_tariff(account.login, "7", Decimal("0.4"))
    expected = {"sms": {"7": {"R": "0.4"}, "7916": {"R": "0.35"}, "default": {"R": "0.5"}}}
    wait_for(lambda: price_list(account) == expected, timeout=2)
    response = account.client.get("/rest/Balance/price_list.php", params=creds(account))
    assert response.text == json.dumps(expected, separators=(",", ":"))
    admin.set_tariff(account.login, "7916", Decimal("0.3"))
    expected["sms"]["7916"]["R"] = "0.3"
    wait_for(lambda: price_list(account) == expected, timeout=2)


def originators(account: Account) -> Any:
    return assert_ok(account.client.get("/rest/Statistic/originator.php", params=creds(account)))


def test_originator_lists_the_sender_names(
    admin: AccountAdmin, make_account: Callable[..., Account]
) -> None:
    account = make_account(sender_names=())
    assert originators(account) == []
    admin.add_sender(account.login, "SMS Info")
    admin.add_sender(account.login, "79001234567")
    admin.add_sender(account.login, "Shop-2.go")
    expected = sorted(["SMS Info", "79001234567", "Shop-2.go"])
    wait_for(lambda: sorted(originators(account)) == expected, timeout=2)
    admin.remove_sender(account.login, "79001234567")
    wait_for(lambda: sorted(originators(account)) == ["SMS Info", "Shop-2.go"], timeout=2)


def test_errors_are_json_without_newline(client: httpx.Client) -> None:
    response = client.get("/rest/Balance/")
    assert_error(response, 1, "sessionId can not be null or empty")
    assert assert_json(response) == {"Code": 1, "Desc": "sessionId can not be null or empty"}


def test_a_multipart_body_without_its_closing_delimiter_is_code_2_and_nothing_is_sent(
    account: Account,
) -> None:
    """Its last field was dropped and the rest carried out: without its sendDate, a message
    scheduled for 2030 went at once."""
    params = {**endpoint_params("send", account), "sendDate": "2030-01-01T10:00:00"}
    body = b"".join(
        b'--cut\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in params.items()
    )
    headers = {"Content-Type": "multipart/form-data; boundary=cut"}
    response = account.client.post("/rest/Send/SendSms/", content=body, headers=headers)
    assert "no closing delimiter" in assert_error(response, 2)
    assert balance(account) == 1000
    closed = account.client.post(
        "/rest/Send/SendSms/", content=body + b"--cut--\r\n", headers=headers
    )
    assert state(account, closed.json()[0])["StateDescription"] == "Scheduled"
