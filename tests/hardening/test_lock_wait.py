"""A lock held outside the server (an operator's ``LOCK TABLE``, a long admin write) costs the
requests that need it a Code 9 after the lock wait, not a hang; then sending goes on."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.api.helpers import Deployment, send_sms
from tests.store.test_lock_wait import write_lock_held

LOCK_WAIT = 1.0


def test_a_send_behind_a_held_lock_answers_code_9_and_the_next_is_sent(
    spawn: Callable[..., Deployment],
) -> None:
    # No dispatcher: its writes would wait for the lock beside the send's.
    deployment = spawn(lock_wait_seconds=str(LOCK_WAIT), dispatch="false")
    account = deployment.make_account()
    with write_lock_held(deployment.process.database_url):
        started = time.monotonic()
        refused = send_sms(account)
        waited = time.monotonic() - started
    assert refused.status_code == 500, refused.text
    assert refused.json()["Code"] == 9
    assert LOCK_WAIT * 0.8 <= waited < LOCK_WAIT * 5
    sent = send_sms(account)
    assert sent.status_code == 200, sent.text
