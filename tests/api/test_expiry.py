"""Validity: a part the operator never reports expires (46); one that could not be sent before
its validity ran out expires too and is refunded. Minute-long; the parts were sent when the
session started (``slow_scenarios``), so these tests mostly wait out what is left."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.api.conftest import ExpiryScenarios
from tests.api.helpers import balance, state, statistic, wait_for
from tests.server import ServerProcess

pytestmark = pytest.mark.slow

VALIDITY = 60.0


@pytest.fixture
def scenarios(slow_scenarios: ExpiryScenarios | BaseException | None) -> ExpiryScenarios:
    if isinstance(slow_scenarios, BaseException):
        raise slow_scenarios
    assert slow_scenarios is not None
    return slow_scenarios


def remaining(scenarios: ExpiryScenarios, extra: float) -> float:
    return max(0.0, scenarios.sent_at + VALIDITY + extra - time.monotonic())


def test_a_part_never_reported_expires_after_its_validity(scenarios: ExpiryScenarios) -> None:
    account = scenarios.expiring_account
    wait_for(lambda: state(account, scenarios.delivered_id)["State"] == 0)
    found = state(account, scenarios.silent_id)
    if remaining(scenarios, 0) > 2:
        assert (found["State"], found["StateDescription"]) == (-1, "Sent")
    found = wait_for(
        lambda: (found := state(account, scenarios.silent_id))["State"] != -1 and found,
        timeout=remaining(scenarios, 15),
        interval=0.25,
    )
    assert (found["State"], found["StateDescription"]) == (46, "Expired")
    created = int(found["CreationDateUtc"][6:-2])
    reported = int(found["ReportedDateUtc"][6:-2])
    assert reported - created >= VALIDITY * 1000
    assert statistic(account) == {
        "Sent": 2,
        "Delivered": 1,
        "NotDelivered": 0,
        "InProgress": 0,
        "InProcess": 0,
        "Expired": 1,
        "DeliveryRatio": 50,
    }
    # it reached the operator: no refund
    assert balance(account) == 998


def test_a_part_expired_before_it_could_be_sent_is_refunded(scenarios: ExpiryScenarios) -> None:
    account = scenarios.unsent_account
    assert balance(account) == 9
    found = state(account, scenarios.queued_id)
    assert (found["State"], found["StateDescription"]) == (-1, "Queued")
    # the server had no dispatcher; one that starts after the validity ran out must not send it
    time.sleep(remaining(scenarios, 1))
    old = scenarios.unsent.process
    old.stop()
    restarted = ServerProcess(old.database_url, old.workdir, simulator_delay="0.2")
    scenarios.unsent.process = restarted  # stopped with the scenario
    restarted.start()
    account.client.base_url = restarted.url
    found = wait_for(
        lambda: (found := state(account, scenarios.queued_id))["State"] != -1 and found,
        timeout=10,
    )
    assert (found["State"], found["StateDescription"]) == (46, "Expired")
    assert found["SubmittedDateUtc"] is None
    assert balance(account) == Decimal(10)
    assert statistic(account)["Expired"] == 1
