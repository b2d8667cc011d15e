"""The flood check's reads (``frequent_destinations``, ``recent_message_times``): right counts
and times, each number looked up in the (destination, account_id, created_at) index, never the
account's whole window, whatever the statistics say (here: none, as on a new database) and
whenever the plan was made."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.flood import (
    _FREQUENT_PAIRS,
    _FREQUENT_TO,
    _RECENT_TO,
    _RECENT_TO_EACH,
    FloodProbe,
    frequent_destinations,
    recent_message_times,
)
from smsgate.store.messages import insert_parts
from smsgate.store.prepared import Prepared
from tests.store.parts import part_row
from tests.store.plans import every_index_condition_names, query_plan

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(seconds=60)
TWICE = "79260000001"  # two messages in the window
ONCE = "79260000002"  # one in the window, one before it
NEVER = "79260000003"


@pytest.fixture
def account_id(database: Database) -> Iterator[int]:
    """An account with 5,000 messages to other numbers in the window, and the few above."""
    account_id = AccountAdmin(database).create("probes", password="secret-password")
    busy = [part_row(i, account_id, NOW, destination=f"7903{i:07d}") for i in range(1, 5_001)]
    sent = [
        part_row(5_001, account_id, NOW, destination=TWICE),
        part_row(5_002, account_id, NOW - timedelta(seconds=5), destination=TWICE),
        part_row(5_003, account_id, NOW, destination=ONCE),
        part_row(5_004, account_id, SINCE - timedelta(seconds=1), destination=ONCE),
    ]
    database.write_sync(lambda c: insert_parts(c, busy + sent))
    yield account_id


def test_frequent_destinations_counts_in_the_window(database: Database, account_id: int) -> None:
    def probe(at_least: int) -> set[tuple[int, str]]:
        asked = FloodProbe(account_id, [TWICE, ONCE, NEVER], SINCE, at_least)
        return database.read_sync(lambda c: frequent_destinations(c, [asked]))

    assert probe(1) == {(account_id, TWICE), (account_id, ONCE)}
    assert probe(2) == {(account_id, TWICE)}
    assert probe(3) == set()


def test_recent_message_times_are_those_in_the_window(database: Database, account_id: int) -> None:
    times = database.read_sync(
        lambda c: recent_message_times(c, account_id, [TWICE, ONCE, NEVER], SINCE)
    )
    assert {number: sorted(sent) for number, sent in times.items() if sent} == {
        TWICE: [NOW - timedelta(seconds=5), NOW],
        ONCE: [NOW],
    }


def _probe_statements(dialect: str, account_id: int) -> list[tuple[Prepared, dict[str, Any]]]:
    numbers = [TWICE, ONCE, NEVER]
    if dialect == "postgresql":
        return [
            (
                _FREQUENT_PAIRS,
                {
                    "account_id": [account_id] * 3,
                    "destination": numbers,
                    "since": SINCE,
                    "at_least": 2,
                },
            ),
            (_RECENT_TO_EACH, {"destination": numbers, "account_id": account_id, "since": SINCE}),
        ]
    # SQLite: the IN list statements of 8 values, the shortest that takes 3.
    listed = dict(zip([f"in_{i}" for i in range(8)], [*numbers] + [NEVER] * 5, strict=True))
    return [
        (
            _FREQUENT_TO._by_size[8],
            {"account_id": account_id, "since": SINCE, "at_least": 2, **listed},
        ),
        (_RECENT_TO._by_size[8], {"account_id": account_id, "since": SINCE, **listed}),
    ]


def test_each_number_is_an_index_range_of_its_own(database: Database, account_id: int) -> None:
    for statement, params in _probe_statements(database.dialect, account_id):
        _assert_looks_up_each_number(database, statement, params)


def test_a_plan_made_on_a_small_table_looks_up_each_number(database: Database) -> None:
    """At a few hundred rows both indexes of the account cost the planner alike: given account_id
    itself, PostgreSQL took (account_id, created_at), and a server's prepared statement keeps
    the plan it made then (a generic plan) while the table grows."""
    account_id = AccountAdmin(database).create("probes", password="secret-password")
    sent = [part_row(i, account_id, NOW, destination=f"7903{i:07d}") for i in range(1, 301)]
    database.write_sync(lambda c: insert_parts(c, sent))
    for statement, params in _probe_statements(database.dialect, account_id):
        _assert_looks_up_each_number(database, statement, params)


def _assert_looks_up_each_number(
    database: Database, statement: Prepared, params: dict[str, Any]
) -> None:
    plan = database.read_sync(partial(query_plan, statement=statement, params=params))
    if database.dialect == "postgresql":
        # Not "Index Cond: (account_id = ...) AND (created_at >= ...)" with the numbers left to
        # a filter over every row of the account's window.
        assert every_index_condition_names(plan, "destination"), plan
    else:
        assert "destination=?" in plan, plan
