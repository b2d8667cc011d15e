"""Abuse limits: login lockout per login and per address, the body size limit, the request
rate per account."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from smsgate.config import Settings
from smsgate.domain.errors import FloodDetected, Unauthorized
from smsgate.services import limits
from smsgate.services.limits import (
    LOCKED_OUT,
    TOO_MANY_REQUESTS,
    FailureLog,
    LockoutPolicy,
    LoginThrottle,
    RequestRate,
    client_address,
)
from tests.api.helpers import (
    SENDER,
    Deployment,
    assert_error,
    assert_ok,
    balance,
    creds,
    wait_for,
)
from tests.hardening.conftest import BURST, RATE, Ops
from tests.hardening.helpers import (
    BODY_LIMIT,
    FORM,
    chunk,
    connect,
    log_until_now,
    read_response,
    request_head,
)
from tests.server import http_client

WRONG_PASSWORD = "Invalid login or password"
MULTIPART = "multipart/form-data; boundary=limit"
TOO_LARGE = f"Request body over {BODY_LIMIT} bytes"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the rules ------------------------------------------------------------------------------


def test_lockouts_double_from_the_base_up_to_the_cap_after_the_free_failures() -> None:
    policy = LockoutPolicy(free=2, base=1.0, cap=8.0)
    assert [policy.lockout(n) for n in range(1, 9)] == [0, 0, 1, 2, 4, 8, 8, 8]
    assert policy.lockout(10**6) == 8.0


def test_failures_lock_a_key_until_its_lockout_ends_and_are_forgotten_after_a_quiet_cap() -> None:
    failures = FailureLog(LockoutPolicy(free=1, base=1.0, cap=4.0))
    failures.failed("key", 0.0)
    assert not failures.locked("key", 0.0)
    failures.failed("key", 0.0)
    assert failures.locked("key", 0.99) and not failures.locked("key", 1.0)
    failures.failed("key", 1.0)  # the third in a row: 2 s
    assert failures.locked("key", 2.99) and not failures.locked("key", 3.0)
    # Quiet for a whole cap after the lockout ended: the next failure is a first one again.
    failures.failed("key", 7.01)
    assert not failures.locked("key", 7.01)
    failures.forget("key")
    assert not failures.locked("key", 7.01)


def test_the_keys_remembered_are_bounded_the_least_recently_failing_forgotten_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "MAX_TRACKED", 2)
    failures = FailureLog(LockoutPolicy(free=0, base=10.0, cap=10.0))
    for key in ("a", "b", "a", "c"):
        failures.failed(key, 0.0)
    assert failures.locked("a", 1.0) and failures.locked("c", 1.0)
    assert not failures.locked("b", 1.0)


def test_keys_are_cut_to_a_bounded_length() -> None:
    failures = FailureLog(LockoutPolicy(free=0, base=10.0, cap=10.0))
    long_login = "x" * limits.MAX_KEY_LENGTH
    failures.failed(long_login + "a" * 10_000, 0.0)
    assert failures.locked(long_login + "b", 1.0)
    failures.forget(long_login + "c")
    assert not failures.locked(long_login, 1.0)


def test_a_locked_address_locks_every_login_but_a_success_frees_only_its_login() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        LockoutPolicy(free=1, base=5.0, cap=5.0), LockoutPolicy(free=2, base=5.0, cap=5.0), clock
    )
    token = client_address.set("203.0.113.7")
    try:
        throttle.failed("alice")
        throttle.succeeded("alice")
        throttle.failed("alice")
        throttle.begin("alice")  # one failure since the success: free
        throttle.done()
        throttle.failed("bob")  # the address's third failure in a row: locked
        for login in ("alice", "carol"):
            with pytest.raises(Unauthorized, match=LOCKED_OUT):
                throttle.check(login)
        client_address.set("198.51.100.1")
        throttle.check("carol")
        clock.now += 5.0
        client_address.set("203.0.113.7")
        throttle.check("carol")
    finally:
        client_address.reset(token)


def test_a_locked_login_is_let_through_where_it_logged_in_before() -> None:
    clock = Clock()
    per_login = LockoutPolicy(free=1, base=60.0, cap=60.0)
    throttle = LoginThrottle(per_login, LockoutPolicy(free=2, base=60.0, cap=60.0), clock)
    token = client_address.set("198.51.100.1")
    try:
        throttle.succeeded("alice")  # the owner's integration
        client_address.set("203.0.113.7")
        throttle.failed("alice")
        throttle.failed("alice")  # the login's second failure: locked
        with pytest.raises(Unauthorized, match=LOCKED_OUT):
            throttle.check("alice")
        client_address.set("198.51.100.1")
        throttle.check("alice")
        throttle.succeeded("alice")  # the owner's login ends no lockout of others' guessing
        client_address.set("203.0.113.8")
        with pytest.raises(Unauthorized, match=LOCKED_OUT):
            throttle.check("alice")
        client_address.set("198.51.100.1")
        throttle.failed("alice")
        throttle.failed("alice")
        throttle.failed("alice")  # the known address's own third failure: it is locked
        with pytest.raises(Unauthorized, match=LOCKED_OUT):
            throttle.check("alice")
    finally:
        client_address.reset(token)


def test_a_token_bucket_lets_a_burst_through_then_refills_at_the_rate() -> None:
    clock = Clock()
    rate = RequestRate(per_second=2.0, burst=2, clock=clock)
    rate.spend(1)
    rate.spend(1)
    with pytest.raises(FloodDetected, match=TOO_MANY_REQUESTS) as refused:
        rate.spend(1)
    assert refused.value.code == 10
    rate.spend(2)  # another account's bucket
    clock.now += 0.5
    rate.spend(1)
    with pytest.raises(FloodDetected):
        rate.spend(1)


@pytest.mark.parametrize(
    ("setting", "value", "complaint"),
    [
        ("default_price", "-1", "greater than or equal to 0"),
        # Debited rounded per order but refunded rounded per part: money would be made.
        ("default_price", "0.00015", "no more than 4 decimal places"),
        ("default_price", "nan", "finite number"),
        ("flood_limit", "0", "greater than or equal to 1"),
        ("flood_window_seconds", "0", "greater than or equal to 1"),
        ("dispatch_batch", "0", "greater than or equal to 1"),
        ("simulator_delay", "-1", "greater than or equal to 0"),
        # A window of 10^11 s overflowed every SendSms's date arithmetic (Code 9 for each).
        ("flood_window_seconds", "100000000000", "less than or equal to 315360000"),
        ("flood_limit", "99999999999999999999", "less than or equal to 2147483647"),
        ("port", "70000", "less than or equal to 65535"),  # wrapped round to 4464
        ("metrics_port", "8080", "ports must differ"),
        ("cache_refresh_seconds", "0", "greater than 0"),  # a loop polling the database
        ("cache_refresh_seconds", "inf", "finite number"),  # admin changes never arriving
        ("session_ttl_seconds", "-5", "greater than or equal to 1"),  # sessions dead at birth
        ("simulator_delay", "nan", "finite number"),
        # Trusted no proxy: every client behind it had the proxy's address (and lockout).
        ("forwarded_allow_ips", ["10.0.0.300"], "not an address or network: '10.0.0.300'"),
        ("forwarded_allow_ips", ["10.0.0.5/24"], "not an address or network: '10.0.0.5/24'"),
        ("forwarded_allow_ips", ["10.0.0.1", "*"], "give it alone"),
        ("request_head_timeout_seconds", "0", "greater than 0"),
        # Shorter than a part's pushes live (a day, and a week once given up).
        ("retention_days", "7", "greater than or equal to 8"),
        # Ignored, either would read as a limit in force.
        ("rate_limit_burst", "5", "rate_limit_burst needs rate_limit_per_second"),
        ("login_lockout_seconds", "600", r"login_lockout_seconds \(600\) is over"),
        # A pooler of SQLite, or a LISTEN there: settings that would do nothing.
        ("database_transaction_pooling", "true", "for a PostgreSQL database_url"),
        ("database_listen_url", "sqlite:///x.db", "LISTEN is PostgreSQL's"),
        ("database_listen_url", "postgresql://db/x", "database_listen_url is for a PostgreSQL"),
        ("database_listen_url", "::not a url::", "not a database URL"),
    ],
)
def test_settings_the_rules_could_not_use_are_refused(
    setting: str, value: object, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Settings.model_validate({setting: value})


def test_the_defaults_are_a_32_mb_body_and_no_request_rate() -> None:
    settings = Settings()
    assert settings.max_body_bytes == 32 * 1024 * 1024
    assert settings.rate_limit_per_second is None


# --- on a server ----------------------------------------------------------------------------


def test_login_and_pass_on_every_request_never_lock_their_address_out(
    spawn: Callable[..., Deployment],
) -> None:
    """Integrations that send login and pass with each request: each check of a known good
    (cached) password counted as a password check running, and was never counted off, so the
    address was refused at its 21st request, for good, for every login."""
    deployment = spawn(login_failures_per_address="3")
    account = deployment.make_account()
    for _ in range(10):
        assert_ok(account.client.get("/rest/Balance/", params=creds(account)))
    session = {"login": account.login, "password": account.password}
    assert_ok(account.client.get("/rest/Session/", params=session))


def test_a_brute_force_loop_is_slowed_to_the_lockout_pace_and_spares_existing_session_ids(
    spawn: Callable[..., Deployment],
) -> None:
    free, base, cap = 3, 0.05, 0.25
    deployment = spawn(
        login_failures_per_login=str(free),
        login_failures_per_address="1000000",
        login_lockout_seconds=str(base),
        login_lockout_max_seconds=str(cap),
        forwarded_allow_ips='["127.0.0.1"]',
    )
    victim = deployment.make_account()
    session_id = victim.session_id()  # the owner logs in from 127.0.0.1
    client = http_client(deployment.process.url, headers={"X-Forwarded-For": "203.0.113.66"})
    answers: Counter[str] = Counter()
    started = time.monotonic()
    for attempt in range(1000):
        guess = f"guess-{attempt:04d}"
        if attempt % 2:
            response = client.get(
                "/rest/Session/", params={"login": victim.login, "password": guess}
            )
        else:
            response = client.get("/rest/Balance/", params={"login": victim.login, "pass": guess})
        answers[assert_error(response, 4)] += 1
        if attempt % 100 == 0:
            by_session = client.get("/rest/Balance/", params={"sessionId": session_id})
            assert assert_ok(by_session) == 1000
    elapsed = time.monotonic() - started
    checked = answers[WRONG_PASSWORD]
    assert answers[LOCKED_OUT] + checked == 1000, answers
    # `free` failures and one more lock nothing; then each check waits out a lockout of 0.05,
    # 0.1 and 0.2 s, then of 0.25 s (the cap) each: guessing runs at the cap's pace.
    ramp = math.ceil(math.log2(cap / base)) + 1
    assert free + 1 < checked <= free + 1 + ramp + math.ceil(elapsed / cap), (checked, elapsed)
    # While locked, even the right password is not checked: right after a guess that was
    # checked (and so began a lockout of the cap) ...
    wait_for(
        lambda: (
            assert_error(
                client.get("/rest/Balance/", params={"login": victim.login, "pass": "one-more"}), 4
            )
            == WRONG_PASSWORD
        ),
        interval=0.01,
    )
    by_password = client.get("/rest/Balance/", params=creds(victim))
    assert assert_error(by_password, 4) == LOCKED_OUT
    # ... but at the address it logged in from, the owner's integration goes on ...
    assert assert_ok(deployment.client.get("/rest/Balance/", params=creds(victim))) == 1000
    # ... and once the lockout ends it opens the account again.
    wait_for(lambda: client.get("/rest/Balance/", params=creds(victim)).status_code == 200)
    assert balance(victim) == 1000
    client.close()
    log = log_until_now(deployment)
    assert log.count("logger=smsgate.access") > 1000
    assert "guess-" not in log


@pytest.mark.parametrize("trusted", [False, True], ids=["no proxy", "trusted proxy"])
def test_failures_count_per_client_address_as_a_trusted_proxy_names_it(
    spawn: Callable[..., Deployment], trusted: bool
) -> None:
    settings = {
        "login_failures_per_login": "100",
        "login_failures_per_address": "2",
        "login_lockout_seconds": "60",
    }
    if trusted:
        settings["forwarded_allow_ips"] = '["127.0.0.1"]'
    deployment = spawn(**settings)
    user = deployment.make_account()
    client = deployment.client
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    right = {"login": user.login, "password": user.password}
    for n in range(3):  # wrong passwords of different logins: only the address is common
        wrong = {"login": f"nobody-{n}", "password": "wrong"}
        response = client.get("/rest/Session/", params=wrong, headers=attacker)
        assert assert_error(response, 4) == WRONG_PASSWORD
    response = client.get("/rest/Session/", params=right, headers=attacker)
    assert assert_error(response, 4) == LOCKED_OUT
    elsewhere = client.get("/rest/Session/", params=right, headers={"X-Forwarded-For": "1.2.3.4"})
    if trusted:
        assert_ok(elsewhere)
    else:  # a header anyone can send names no one: every request came from 127.0.0.1
        assert assert_error(elsewhere, 4) == LOCKED_OUT


def test_a_declared_oversize_body_answers_code_2_before_any_of_it_is_sent(
    shared: Deployment,
) -> None:
    with connect(shared.process.port) as sock:
        sock.sendall(request_head("/rest/Send/SendSms/", FORM, BODY_LIMIT + 1))
        response = read_response(sock)
        # Closed after the answer: it read the rest of a body declared a gigabyte, to drop it.
        assert response.headers["connection"] == "close"
        sock.settimeout(5)
        assert sock.recv(1) == b""
    assert response.status == 400
    assert response.json() == {"Code": 2, "Desc": TOO_LARGE}


@pytest.mark.parametrize("content_type", [FORM, MULTIPART])
def test_a_streamed_oversize_body_answers_code_2_once_past_the_limit(
    shared: Deployment, content_type: str
) -> None:
    start = b'--limit\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
    piece = b"a" * 65536
    with connect(shared.process.port) as sock:
        sock.sendall(request_head("/rest/Send/SendSms/", content_type))
        sent = 0
        if content_type == MULTIPART:
            sock.sendall(chunk(start))
            sent = len(start)
        while sent <= BODY_LIMIT:
            sock.sendall(chunk(piece))
            sent += len(piece)
        # The body never ends, yet the answer comes, and the connection ends.
        response = read_response(sock)
        assert response.headers["connection"] == "close"
    assert response.status == 400
    assert response.json() == {"Code": 2, "Desc": TOO_LARGE}


def test_a_body_of_the_limit_exactly_is_read(shared: Deployment) -> None:
    account = shared.make_account()
    form = (
        f"login={account.login}&pass={account.api_password}&sourceAddress={SENDER}"
        "&destinationAddress=79001234567&data=Hello&padding="
    ).encode()
    body = form + b"a" * (BODY_LIMIT - len(form))
    response = shared.client.post(
        "/rest/Send/SendSms/", content=body, headers={"Content-Type": FORM}
    )
    assert len(assert_ok(response)) == 1


def test_a_request_rate_per_account_answers_code_10_past_it(ops: Ops) -> None:
    deployment = ops.deployment
    account, other = deployment.make_account(), deployment.make_account()
    client = deployment.client
    for _ in range(BURST):
        assert_ok(client.get("/rest/Balance/", params=creds(account)))
    refused = client.get("/rest/Balance/", params=creds(account))
    assert assert_error(refused, 10) == TOO_MANY_REQUESTS
    assert_ok(client.get("/rest/Balance/", params=creds(other)))
    time.sleep(1 / RATE)  # one request more
    assert_ok(client.get("/rest/Balance/", params=creds(account)))


def test_there_is_no_request_rate_limit_by_default(shared: Deployment) -> None:
    account = shared.make_account()
    for _ in range(50):
        assert_ok(shared.client.get("/rest/Balance/", params=creds(account)))


def test_the_defaults_are_the_issues(monkeypatch: pytest.MonkeyPatch) -> None:
    # What an operator gets without setting anything: flood N=10 in T=60 s, reports kept a
    # week, the simulated SMSC reporting after 1 s.
    for name in ("FLOOD_LIMIT", "FLOOD_WINDOW_SECONDS", "REPORT_RETENTION_SECONDS"):
        monkeypatch.delenv(f"SMSGATE_{name}", raising=False)
    monkeypatch.delenv("SMSGATE_SIMULATOR_DELAY", raising=False)
    settings = Settings()
    assert (settings.flood_limit, settings.flood_window_seconds) == (10, 60)
    assert settings.report_retention_seconds == 7 * 24 * 3600
    assert settings.simulator_delay == 1.0


def test_an_address_may_run_no_more_checks_at_once_than_failures_it_has_left() -> None:
    """Guesses sent at once at other logins each: counted as they fail, all were checked
    before the first failure locked the address."""
    clock = Clock()
    throttle = LoginThrottle(
        LockoutPolicy(free=10, base=5.0, cap=5.0), LockoutPolicy(free=2, base=5.0, cap=5.0), clock
    )
    token = client_address.set("203.0.113.7")
    try:
        for login in ("a", "b", "c"):  # the third could be the failure that locks
            throttle.begin(login)
        with pytest.raises(Unauthorized, match=LOCKED_OUT):
            throttle.begin("d")
        throttle.check("d")  # a cached good password is no check: not held back
        throttle.done()
        throttle.succeeded("a")  # a check that ended leaves room for another
        throttle.begin("d")
        for login in ("b", "c", "d"):
            throttle.failed(login)
            throttle.done()
        with pytest.raises(Unauthorized, match=LOCKED_OUT):
            throttle.begin("e")  # locked by the three failures
        clock.now += 5.0
        throttle.begin("e")  # the lockout over: one more check, as one after another
    finally:
        client_address.reset(token)


def test_a_content_length_with_leading_zeros_is_the_length_it_names(shared: Deployment) -> None:
    """Past 18 characters it was taken for no body: the body lost (Code 1 for a login sent),
    and a length over the limit not refused up front."""
    user = shared.make_account()
    body = f"login={user.login}&password={user.password}".encode()

    def head(length: str) -> bytes:
        return (
            b"POST /rest/Session/ HTTP/1.1\r\nHost: t\r\nContent-Type: " + FORM.encode()
            + b"\r\nContent-Length: " + length.encode() + b"\r\n\r\n"
        )  # fmt: skip

    with connect(shared.process.port) as sock:
        sock.sendall(head(str(len(body)).zfill(25)) + body)
        assert read_response(sock).status == 200
    with connect(shared.process.port) as sock:
        sock.sendall(head(str(BODY_LIMIT + 1).zfill(25)))
        response = read_response(sock)
    assert (response.status, response.json()) == (400, {"Code": 2, "Desc": TOO_LARGE})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"),  # one /64: one host may pick any of it
        ("203.0.113.7", "::ffff:203.0.113.7"),  # IPv4 written as IPv6
    ],
)
def test_addresses_count_as_the_host_they_name(first: str, second: str) -> None:
    clock = Clock()
    throttle = LoginThrottle(
        LockoutPolicy(free=10, base=5.0, cap=5.0), LockoutPolicy(free=0, base=5.0, cap=5.0), clock
    )
    token = client_address.set(first)
    try:
        throttle.check("alice")
        throttle.failed("alice")
        throttle.done()
        client_address.set(second)
        with pytest.raises(Unauthorized, match=LOCKED_OUT):
            throttle.check("bob")
        client_address.set("2001:db8:1:3::1")  # another /64
        throttle.check("bob")
    finally:
        client_address.reset(token)
