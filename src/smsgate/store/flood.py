"""The flood check's reads: when an account sent messages to some numbers within a window,
and which of those numbers had at least so many. They run in the order write's transaction,
under its account locks (``services.order_writer``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    select,
)

from smsgate.store.prepared import BatchRows, Prepared, PreparedIn
from smsgate.store.schema import messages


def _recent_where(account: ColumnElement[bool], *conditions: Any) -> Any:
    """First parts since ``since`` of the account ``account`` picks."""
    return and_(
        account,
        messages.c.created_at >= bindparam("since", type_=messages.c.created_at.type),
        messages.c.part_number == 1,
        *conditions,
    )


_OF_ACCOUNT = messages.c.account_id == bindparam("account_id")


def _of_account_unindexed(account_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """``account_id + 0 = ...``: the account as a filter that no index can take (see below)."""
    return messages.c.account_id + literal_column("0") == account_id


def _frequent(where: Any) -> Select[Any]:
    return (
        select(messages.c.destination)
        .where(where)
        .group_by(messages.c.destination)
        .having(func.count() >= bindparam("at_least"))
    )


_RECENT_COLUMNS = (messages.c.destination, messages.c.created_at)
_RECENT_WINDOW = Prepared(select(*_RECENT_COLUMNS).where(_recent_where(_OF_ACCOUNT)))
_FREQUENT_IN_WINDOW = Prepared(_frequent(_recent_where(_OF_ACCOUNT)))
# SQLite: the numbers as an IN list, which it searches one by one in the index of
# (destination, account_id, created_at).
_RECENT_TO = PreparedIn(
    lambda among: select(*_RECENT_COLUMNS).where(
        _recent_where(_OF_ACCOUNT, among(messages.c.destination))
    )
)
_FREQUENT_TO = PreparedIn(
    lambda among: _frequent(_recent_where(_OF_ACCOUNT, among(messages.c.destination)))
)
# PostgreSQL: each number's messages as a correlated subquery of its own, with the account as a
# filter (``account_id + 0``), so that the only index to answer it is (destination, account_id,
# created_at), one range per number. Given ``destination = ANY(...)``, a join, or a subquery
# comparing account_id itself, the planner, on statistics older than the account's latest
# burst (a new table; a generic plan made while the table held a few hundred rows), found the
# (account_id, created_at) index as cheap and took it: each probe then read every message the
# account sent in the window (12.8 ms per probe at 14,000 messages, against 0.05 ms), while
# the SendSms group commit held the account's lock.
_NUMBERS = BatchRows({"destination": messages.c.destination.type}, set_based=True)
_TIMES_TO_NUMBER = (
    select(func.array_agg(messages.c.created_at))
    .where(
        _recent_where(
            _of_account_unindexed(bindparam("account_id", type_=messages.c.account_id.type)),
            messages.c.destination == _NUMBERS["destination"],
        )
    )
    .scalar_subquery()
)
_RECENT_TO_EACH = Prepared(
    select(_NUMBERS["destination"], _TIMES_TO_NUMBER).select_from(_NUMBERS.table),
    arrays=_NUMBERS.columns,
)
# Up to this many numbers, index probes per number beat a scan of the account's recent window.
_PROBE_LIMIT = 2048


def recent_message_times(
    connection: Connection, account_id: int, destinations: Iterable[str], since: datetime
) -> dict[str, list[datetime]]:
    """When the account sent messages (first parts) to each destination since ``since``."""
    wanted = set(destinations)
    times: dict[str, list[datetime]] = defaultdict(list)
    if not wanted:
        return times
    if len(wanted) > _PROBE_LIMIT:
        rows = _RECENT_WINDOW.rows(connection, account_id=account_id, since=since)
    elif connection.dialect.name == "postgresql":
        params = {"destination": sorted(wanted), "account_id": account_id, "since": since}
        for destination, sent_at in _RECENT_TO_EACH.rows(connection, **params):
            if sent_at:  # None: no message to that number
                times[destination].extend(sent_at)
        return times
    else:
        rows = _RECENT_TO.rows(connection, wanted, account_id=account_id, since=since)
    for destination, created_at in rows:
        if destination in wanted:
            times[destination].append(created_at)
    return times


@dataclass(frozen=True, slots=True)
class FloodProbe:
    """The question: which of ``destinations`` had at least ``at_least`` messages (first parts)
    from the account since ``since``?"""

    account_id: int
    destinations: Collection[str]
    since: datetime
    at_least: int


# PostgreSQL: every probe of a batch, of one account or many, as one statement over (account,
# number) pairs, each pair's count a correlated subquery (an index range, as above). It counts
# from the earliest ``since`` up to the lowest ``at_least`` of the probes: a few more numbers
# may answer than each probe alone would give, which only means reading their times.
_PAIRS = BatchRows(
    {"account_id": messages.c.account_id.type, "destination": messages.c.destination.type},
    set_based=True,
)
_SENT_TO_PAIR = (
    select(func.count())
    .where(
        _recent_where(
            _of_account_unindexed(_PAIRS["account_id"]),
            messages.c.destination == _PAIRS["destination"],
        )
    )
    .scalar_subquery()
)
_FREQUENT_PAIRS = Prepared(
    select(_PAIRS["account_id"], _PAIRS["destination"]).where(
        bindparam("at_least") <= _SENT_TO_PAIR
    ),
    arrays=_PAIRS.columns,
)


def frequent_destinations(
    connection: Connection, probes: Sequence[FloodProbe]
) -> set[tuple[int, str]]:
    """The (account, destination) pairs that answer the probes: counted by the database, so a
    busy window costs no rows here."""
    found: set[tuple[int, str]] = set()
    paired: list[FloodProbe] = []
    for probe in probes:
        wanted = set(probe.destinations)
        params = {"account_id": probe.account_id, "since": probe.since, "at_least": probe.at_least}
        if len(wanted) > _PROBE_LIMIT:
            rows = _FREQUENT_IN_WINDOW.rows(connection, **params)
        elif connection.dialect.name == "postgresql":
            paired.append(probe)
            continue
        else:
            rows = _FREQUENT_TO.rows(connection, wanted, **params)
        found.update((probe.account_id, number) for (number,) in rows if number in wanted)
    if paired:
        pairs = [(probe.account_id, number) for probe in paired for number in probe.destinations]
        account_ids, destinations = (list(column) for column in zip(*pairs, strict=True))
        counted = _FREQUENT_PAIRS.rows(
            connection,
            account_id=account_ids,
            destination=destinations,
            since=min(probe.since for probe in paired),
            at_least=min(probe.at_least for probe in paired),
        )
        found.update((account_id, destination) for account_id, destination in counted)
    return found
