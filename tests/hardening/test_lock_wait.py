"""A lock held outside the server (an operator's ``LOCK TABLE``, a long admin write) costs the
requests that need it a Code 9 after the lock wait, not a hang, and one line of log rather
than a traceback each; then sending goes on."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.api.helpers import Deployment, send_sms
from tests.databases import write_lock_held
from tests.hardening.helpers import log_until_now

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
