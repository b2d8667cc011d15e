"""A lock held outside the server (an operator's ``LOCK TABLE``, a long admin write) costs the
requests that need it a Code 9 after the lock wait, not a hang, and one line of log rather
than a traceback each; then sending goes on."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from smsgate.api.metrics import QUEUE_READ_SECONDS
from smsgate.store.database import CLOSE_WAIT_SECONDS
from tests.api.helpers import Deployment, send_sms
from tests.databases import write_lock_held
from tests.hardening.helpers import log_until_now, sample, scrape

LOCK_WAIT = 1.0
REFUSED = 4


def test_sends_behind_a_held_lock_answer_code_9_and_the_next_is_sent(
    spawn: Callable[..., Deployment],
) -> None:
    # No dispatcher: its writes would wait for the lock beside the sends'.
    deployment = spawn(lock_wait_seconds=str(LOCK_WAIT), dispatch="false")
    account = deployment.make_account()
    with write_lock_held(deployment.process.database_url), ThreadPoolExecutor(REFUSED) as pool:
        started = time.monotonic()
        refused = list(pool.map(lambda _: send_sms(account), range(REFUSED)))
        waited = time.monotonic() - started
    assert {(answer.status_code, answer.json()["Code"]) for answer in refused} == {(500, 9)}
    assert LOCK_WAIT * 0.8 <= waited < LOCK_WAIT * 5 * REFUSED
    sent = send_sms(account)
    assert sent.status_code == 200, sent.text

    log = log_until_now(deployment)
    failures = [line for line in log.splitlines() if "the database is unavailable" in line]
    assert len(failures) == 1, failures  # the others within the digest's interval: counted
    assert "Traceback" not in log


def test_a_stop_does_not_wait_for_a_statement_the_database_does_not_answer(
    spawn: Callable[..., Deployment],
) -> None:
    """A send waiting on a lock (as on a database that stopped answering) held the stop in
    ``Database.close`` until the wait ended, past the shutdown timeout and a second signal."""
    deployment = spawn(lock_wait_seconds="120", shutdown_timeout_seconds="1", dispatch="false")
    account = deployment.make_account()
    process = deployment.process.process
    assert process is not None
    with write_lock_held(deployment.process.database_url), ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(send_sms, account)
        time.sleep(1)  # the send waits for the lock
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(1 + CLOSE_WAIT_SECONDS + 10) == 0
        assert time.monotonic() - started < 1 + CLOSE_WAIT_SECONDS + 10
        assert waiting.result().json()["Code"] == 9  # cut short by the shutdown timeout
    assert "left behind" in deployment.process.log_path.read_text()  # the server is gone


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)  # SQLite reads never wait
def test_a_scrape_answers_when_the_database_does_not(spawn: Callable[..., Deployment]) -> None:
    # It hung until the read's lock wait ended: a scraper gives up first, and shows nothing.
    deployment = spawn(lock_wait_seconds="120")
    with write_lock_held(deployment.process.database_url, table="messages"):
        started = time.monotonic()
        samples = scrape(f"{deployment.process.url}/metrics")
        assert time.monotonic() - started < QUEUE_READ_SECONDS + 3
    assert sample(samples, "smsgate_database_up") == 0
