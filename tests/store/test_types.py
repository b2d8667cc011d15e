"""Column types: on SQLite a time is fixed-width UTC text whose order is the times' order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from smsgate.store.types import UtcDateTime

SQLITE = sqlite.dialect()
COLUMN = UtcDateTime()
aware_times = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))]),
)


@given(aware_times, aware_times)
def test_sqlite_text_sorts_as_the_times_and_reads_back(first: datetime, second: datetime) -> None:
    texts = [COLUMN.process_bind_param(moment, SQLITE) for moment in (first, second)]
    assert all(len(text) == 26 for text in texts)
    assert (texts[0] < texts[1]) == (first < second)
    assert COLUMN.process_result_value(texts[0], SQLITE) == first


def test_the_text_is_utc_with_microseconds() -> None:
    moscow = datetime(2026, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=3)))
    assert COLUMN.process_bind_param(moscow, SQLITE) == "2026-01-01 00:00:00.000000"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        COLUMN.process_bind_param(datetime(2026, 1, 1), SQLITE)
