"""Claims of reports to build: leases, fenced attempts, and giving up (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smsgate.services.accounts import AccountAdmin
from smsgate.store import reports as store
from smsgate.store.database import Database
from smsgate.store.reports import ReportBuildStatus

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3


@pytest.fixture
def report_id(database: Database) -> int:
    owner = AccountAdmin(database).create("owner", password="x", balance=Decimal(0))
    return database.write_sync(lambda c: store.insert_report(c, owner, {"format": "csv"}, NOW))


def claim(database: Database, at: datetime) -> store.ClaimedReport | None:
    return database.write_sync(lambda c: store.claim_report(c, at, at + LEASE, MAX_ATTEMPTS))


def status(database: Database, report_id: int) -> ReportBuildStatus:
    found = database.read_sync(lambda c: store.find_report(c, report_id))
    assert found is not None
    return found.status


def test_a_held_report_is_claimed_again_only_once_its_lease_lapses(
    database: Database, report_id: int
) -> None:
    first = claim(database, NOW)
    assert first is not None and (first.id, first.attempt) == (report_id, 1)
    assert claim(database, NOW + LEASE - timedelta(seconds=1)) is None
    second = claim(database, NOW + LEASE + timedelta(seconds=1))
    assert second is not None and second.attempt == 2
    # the first builder was taken over: it can neither renew, fail nor finish the report
    later = NOW + 2 * LEASE
    assert not database.write_sync(lambda c: store.renew_lease(c, report_id, 1, later))
    assert not database.write_sync(lambda c: store.fail_report(c, report_id, 1, "late", later))
    assert not database.write_sync(
        lambda c: store.finish_report(c, report_id, 1, "x.csv", 0, later)
    )
    assert database.write_sync(
        lambda c: store.finish_report(c, report_id, 2, f"{report_id}.csv", 5, later)
    )
    assert status(database, report_id) is ReportBuildStatus.READY


def test_a_report_whose_builds_keep_dying_fails(database: Database, report_id: int) -> None:
    at = NOW
    for _ in range(MAX_ATTEMPTS):
        assert claim(database, at) is not None
        at += LEASE + timedelta(seconds=1)
    assert claim(database, at) is None
    given_up = database.write_sync(lambda c: store.give_up_reports(c, at, MAX_ATTEMPTS))
    assert given_up == 1
    assert status(database, report_id) is ReportBuildStatus.FAILED


def test_a_released_report_is_claimable_at_once_and_keeps_its_attempts(
    database: Database, report_id: int
) -> None:
    claimed = claim(database, NOW)
    assert claimed is not None
    database.write_sync(lambda c: store.release_report(c, report_id, claimed.attempt))
    again = claim(database, NOW)
    assert again is not None and again.attempt == 1


def test_releasing_every_lease_at_start_makes_held_reports_claimable(
    database: Database, report_id: int
) -> None:
    assert claim(database, NOW) is not None
    assert database.write_sync(store.release_all_leases) == 1
    again = claim(database, NOW)
    assert again is not None and again.attempt == 2
