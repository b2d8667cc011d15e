"""Instant pushes and status callbacks, to real HTTP receivers on free ports."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest

from smsgate.inbound.pusher import signature
from smsgate.services.accounts import AdminError
from tests.api.helpers import send_ok, wait_for
from tests.databases import write_lock_held
from tests.inbound.conftest import PER_ACCOUNT
from tests.inbound.helpers import Inbound, parse_api_date, unique_number, wait_incoming
from tests.inbound.receiver import Receiver

Receivers = Callable[..., Receiver]
# Short, so that a lease a dead server left runs out within the test.
PUSH_LEASE_SECONDS = 4


def test_push_arrives_signed(inbound_server: Inbound, receivers: Receivers) -> None:
    receiver = receivers().start()
    number = unique_number()
    account = inbound_server.account(webhook=receiver.url, secret="s3cret")
    inbound_server.admin.add_number(account.login, number)
    inbound_server.inject(number, "hello")

    (push,) = receiver.wait_for_successes(1)
    (stored,) = wait_incoming(account, 1)
    assert push.path == "/hook"
    assert push.headers["content-type"] == "application/json"
    assert push.headers["x-smsgate-event"] == "incoming"
    assert push.headers["x-smsgate-signature"] == signature("s3cret", push.body)
    assert push.json == stored
    assert push.json["Data"] == "hello"
    assert parse_api_date(push.json["CreatedDateUtc"])


def test_push_without_a_secret_is_unsigned(inbound_server: Inbound, receivers: Receivers) -> None:
    receiver = receivers().start()
    number = unique_number()
    account = inbound_server.account(webhook=receiver.url)
    inbound_server.admin.add_number(account.login, number)
    inbound_server.inject(number, "hello")
    (push,) = receiver.wait_for_successes(1)
    assert "x-smsgate-signature" not in push.headers


def test_failed_push_is_retried_until_a_2xx(inbound_server: Inbound, receivers: Receivers) -> None:
    receiver = receivers([500, 500, 500]).start()
    number = unique_number()
    account = inbound_server.account(webhook=receiver.url)
    inbound_server.admin.add_number(account.login, number)
    inbound_server.inject(number, "retry me")

    receiver.wait_for_successes(1)
    time.sleep(1.0)  # time enough for any attempt too many
    assert len(receiver.successes()) == 1
    failures = [r for r in receiver.received if r.status == 500]
    assert len(failures) == 3
    assert {r.json["ID"] for r in receiver.received} == {receiver.successes()[0].json["ID"]}
    wait_for(lambda: not [job for job in inbound_server.push_jobs() if job.url == receiver.url])


def test_a_hanging_receiver_blocks_no_other_account(
    inbound_server: Inbound, receivers: Receivers
) -> None:
    hanging, healthy = receivers(hang=True).start(), receivers().start()
    slow_number, fast_number = unique_number(), unique_number()
    slow = inbound_server.account(webhook=hanging.url)
    fast = inbound_server.account(webhook=healthy.url)
    inbound_server.admin.add_number(slow.login, slow_number)
    inbound_server.admin.add_number(fast.login, fast_number)
    for index in range(20):
        inbound_server.inject(slow_number, f"slow {index}")
    wait_incoming(slow, 20)
    inbound_server.inject(fast_number, "fast")
    started = time.monotonic()
    (push,) = healthy.wait_for_successes(1, timeout=5)
    assert time.monotonic() - started < 2
    assert push.json["Data"] == "fast"
    assert hanging.hung == PER_ACCOUNT  # the account's share of the pusher, not more


def test_a_busy_account_gets_every_push_once_within_its_share(
    inbound_server: Inbound, receivers: Receivers
) -> None:
    slow = receivers(delay=0.2).start()
    number = unique_number()
    account = inbound_server.account(webhook=slow.url)
    inbound_server.admin.add_number(account.login, number)
    for index in range(12):
        inbound_server.inject(number, f"burst {index}")
    pushes = slow.wait_for_successes(12)
    assert sorted(p.json["Data"] for p in pushes) == sorted(f"burst {i}" for i in range(12))
    assert slow.most_concurrent == PER_ACCOUNT
    time.sleep(0.5)
    assert len(slow.received) == 12


def test_status_callbacks_report_each_state_change(
    inbound_server: Inbound, receivers: Receivers
) -> None:
    receiver = receivers().start()
    account = inbound_server.account()
    delivered_ids = send_ok(account, "79001112233", "two parts " * 20, callback_url=receiver.url)
    (rejected_id,) = send_ok(account, "79001110000", "no luck", callback_url=receiver.url)
    send_ok(account, "79001114444", "no callback")
    assert len(delivered_ids) == 2

    calls = receiver.wait_for_successes(6)
    by_part: dict[str, list[dict[str, object]]] = {}
    for call in calls:
        assert call.headers["x-smsgate-event"] == "status"
        by_part.setdefault(call.json["ID"], []).append(call.json)
    assert set(by_part) == {*delivered_ids, rejected_id}
    for part_id in delivered_ids:
        assert [(c["State"], c["StateDescription"]) for c in by_part[part_id]] == [
            (-1, "Sent"),
            (0, "Delivered"),
        ]
    assert [(c["State"], c["StateDescription"]) for c in by_part[rejected_id]] == [
        (-1, "Sent"),
        (42, "NotDelivered"),
    ]
    for call in calls:
        assert call.json["Price"] == 1
        assert parse_api_date(str(call.json["ReportedDateUtc"]))
    time.sleep(0.5)
    assert len(receiver.received) == 6


def test_pending_pushes_are_delivered_after_a_restart(
    own_server: Callable[..., Inbound], receivers: Receivers
) -> None:
    server = own_server()
    receiver = receivers()  # not listening yet: every attempt fails
    number = unique_number()
    account = server.account(webhook=receiver.url)
    server.admin.add_number(account.login, number)
    for index in range(3):
        server.inject(number, f"pending {index}")

    def all_failed_once() -> bool:
        jobs = server.push_jobs()
        return len(jobs) == 3 and all(job.error for job in jobs) and not server.spooled()

    wait_for(all_failed_once)

    server.deployment.process.stop()
    # Each failure doubled the wait for the next attempt: under load the stop takes long
    # enough for the last waits to pass ten seconds. The pushes are due when those end.
    retried_by = max(job.due_at for job in server.push_jobs())
    waits = (retried_by - datetime.now(UTC)).total_seconds()
    receiver.start()
    server.deployment.process.start()
    pushes = receiver.wait_for_successes(3, timeout=max(waits, 0) + 10)
    assert sorted(p.json["Data"] for p in pushes) == ["pending 0", "pending 1", "pending 2"]
    wait_for(lambda: not server.push_jobs())


def test_a_push_in_flight_when_the_server_dies_is_pushed_after_restart(
    own_server: Callable[..., Inbound], receivers: Receivers
) -> None:
    server = own_server(push_lease_seconds=str(PUSH_LEASE_SECONDS))
    hanging = receivers(hang=True).start()
    number = unique_number()
    account = server.account(webhook=hanging.url)
    server.admin.add_number(account.login, number)
    server.inject(number, "in flight")
    # Taken by the server (else the simulated SMSC would rightly deliver it again) and pushed.
    wait_for(lambda: hanging.hung == 1 and not server.spooled())
    assert [job.leased for job in server.push_jobs()] == [True]

    server.deployment.process.kill()
    hanging.stop()
    receiver = receivers(port=hanging.port).start()
    server.deployment.process.start()
    # On SQLite the lease is released at start; on PostgreSQL, where other processes may push
    # too, it runs out first.
    (push,) = receiver.wait_for_successes(1, timeout=PUSH_LEASE_SECONDS + 10)
    assert orjson.loads(push.body)["Data"] == "in flight"


def test_push_targets_are_http_or_https(inbound_server: Inbound) -> None:
    account = inbound_server.account()
    for url in ("ftp://example.test/hook", "file:///etc/passwd", "example.test/hook", "http://"):
        with pytest.raises(AdminError, match="not an http or https URL"):
            inbound_server.admin.set_webhook(account.login, url)
    refused = inbound_server.cli("admin", "account", "webhook", account.login, "gopher://x")
    assert refused.returncode == 1
    assert "not an http or https URL" in refused.stderr
    assert inbound_server.cli("admin", "account", "webhook", account.login).returncode == 1
    set_up = inbound_server.cli(
        "admin", "account", "webhook", account.login, "https://example.test/hook", "--secret", "k"
    )
    assert set_up.returncode == 0, set_up.stderr
    cleared = inbound_server.cli("admin", "account", "webhook", account.login, "--clear")
    assert cleared.returncode == 0, cleared.stderr


def test_no_push_once_the_webhook_is_cleared(inbound_server: Inbound, receivers: Receivers) -> None:
    receiver = receivers().start()
    number = unique_number()
    account = inbound_server.account(webhook=receiver.url)
    inbound_server.admin.add_number(account.login, number)
    inbound_server.admin.set_webhook(account.login, None)
    inbound_server.inject(number, "kept, not pushed")
    wait_incoming(account, 1)
    time.sleep(0.5)
    assert receiver.received == []
    assert not [job for job in inbound_server.push_jobs() if job.url == receiver.url]


def test_a_callback_to_the_gateways_own_network_is_never_made(
    own_server: Callable[..., Inbound], receivers: Receivers
) -> None:
    """By default (no SMSGATE_PUSH_PRIVATE_ADDRESSES) a client's callback_url on a loopback
    address gets no request: it could reach the services of the gateway's own network."""
    server = own_server(push_private_addresses="false")
    receiver = receivers().start()
    account = server.account()
    send_ok(account, "79001112233", "hi", callback_url=receiver.url)
    failed = wait_for(lambda: [job for job in server.push_jobs() if job.error], timeout=10)
    assert "resolves to no public address" in failed[0].error, failed[0].error
    assert receiver.received == []


def test_pushes_answered_while_the_database_was_locked_are_not_pushed_again(
    own_server: Callable[..., Inbound], receivers: Receivers
) -> None:
    """The round that records the answers failed on the lock, and dropped them: every push the
    receiver had taken was pushed again once its lease ran out."""
    server = own_server(push_lease_seconds=str(PUSH_LEASE_SECONDS), lock_wait_seconds="0.5")
    receiver = receivers(delay=1.5).start()
    number = unique_number()
    account = server.account(webhook=receiver.url)
    server.admin.add_number(account.login, number)
    for index in range(3):
        server.inject(number, f"locked {index}")
    wait_for(lambda: receiver.concurrent == 3)
    with write_lock_held(server.deployment.process.database_url, "push_jobs"):
        # The answers come at 1.5 s; the rounds that would record them fail on the lock.
        time.sleep(PUSH_LEASE_SECONDS)
    receiver.wait_for_successes(3)
    wait_for(lambda: not server.push_jobs())
    time.sleep(PUSH_LEASE_SECONDS + 1)  # a lease left behind would have run out
    assert len(receiver.received) == 3


def test_a_new_webhook_takes_the_queued_pushes_and_clearing_drops_them(
    inbound_server: Inbound, receivers: Receivers
) -> None:
    """A job kept the URL it was queued for: one failing there went on there for a day, after
    the webhook moved, or was cleared ("Stop pushing.")."""
    failing = receivers([500] * 100_000).start()
    working = receivers().start()
    number = unique_number()
    account = inbound_server.account(webhook=failing.url)
    inbound_server.admin.add_number(account.login, number)
    inbound_server.inject(number, "moved")
    wait_for(lambda: len(failing.received) >= 2)
    inbound_server.admin.set_webhook(account.login, working.url)
    (push,) = working.wait_for_successes(1)
    assert push.json["Data"] == "moved"

    inbound_server.admin.set_webhook(account.login, failing.url)
    inbound_server.inject(number, "dropped")
    wait_for(lambda: any(r.json["Data"] == "dropped" for r in failing.received))
    inbound_server.admin.set_webhook(account.login, None)
    time.sleep(0.5)  # an attempt already made may still end
    tried = len(failing.received)
    time.sleep(1.0)  # retries come every 0.05-0.4 s here
    assert len(failing.received) == tried
    assert not [job for job in inbound_server.push_jobs() if job.url == failing.url]
