"""Queries of detailed statistics: the ``reports`` table (ordering, claiming, finishing,
sweeping), the accounts a report covers, and the message parts it lists, streamed by pages."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.types import NullType

from smsgate.domain.dates import through_its_last_digit
from smsgate.domain.states import MessageState, stored
from smsgate.domain.timezones import zone_info
from smsgate.store.conditions import lease_ended
from smsgate.store.pages import following
from smsgate.store.schema import accounts, contacts, kept_error, messages, reports
from smsgate.store.selected import AmongSelected

# Memo size of a report stream's conversions: repeated values hit, memory stays bounded.
_MEMO_SIZE = 10_000


class ReportBuildStatus(enum.StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"  # past the retention; the file still there for downloads under way
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    account_id: int
    params: dict[str, Any]
    status: ReportBuildStatus
    file_path: str | None
    row_count: int | None
    created_at: datetime
    finished_at: datetime | None


_REPORT_COLUMNS = [reports.c[name] for name in ReportRow.__dataclass_fields__]


def insert_report(
    connection: Connection, account_id: int, params: dict[str, Any], now: datetime
) -> int:
    result = connection.execute(
        insert(reports)
        .values(
            account_id=account_id,
            params=params,
            status=ReportBuildStatus.BUILDING.value,
            attempts=0,
            created_at=now,
        )
        .returning(reports.c.id)
    )
    return int(result.scalar_one())


def count_building(connection: Connection, account_id: int) -> int:
    query = select(func.count()).where(
        reports.c.account_id == account_id, reports.c.status == ReportBuildStatus.BUILDING.value
    )
    return int(connection.execute(query).scalar_one())


def rows_kept(connection: Connection, account_id: int) -> int:
    """The rows of the account's report files built and not yet past their retention."""
    query = select(func.coalesce(func.sum(reports.c.row_count), 0)).where(
        reports.c.account_id == account_id, reports.c.status == ReportBuildStatus.READY.value
    )
    return int(connection.execute(query).scalar_one())


def find_report(connection: Connection, report_id: int) -> ReportRow | None:
    row = connection.execute(
        select(*_REPORT_COLUMNS).where(reports.c.id == report_id)
    ).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    return ReportRow(**{**values, "status": ReportBuildStatus(values["status"])})


@dataclass(frozen=True, slots=True)
class ClaimedReport:
    id: int
    account_id: int
    params: dict[str, Any]
    # The claim's number: only the holder of the latest claim may renew, finish or fail it.
    attempt: int


def _unheld(now: datetime) -> Any:
    return and_(
        reports.c.status == ReportBuildStatus.BUILDING.value,
        or_(reports.c.lease_until.is_(None), lease_ended(reports.c.lease_until, now)),
    )


def give_up_reports(connection: Connection, now: datetime, max_attempts: int) -> int:
    """Fail unheld reports already claimed ``max_attempts`` times (each build died)."""
    result = connection.execute(
        update(reports)
        .where(_unheld(now), reports.c.attempts >= max_attempts)
        .values(
            status=ReportBuildStatus.FAILED.value,
            error=f"not built in {max_attempts} attempts",
            finished_at=now,
            lease_until=None,
        )
    )
    return int(result.rowcount)


def claim_report(
    connection: Connection, now: datetime, lease_until: datetime, max_attempts: int
) -> ClaimedReport | None:
    """Hold the oldest unheld report still to build until ``lease_until``."""
    oldest = (
        select(reports.c.id)
        .where(_unheld(now), reports.c.attempts < max_attempts)
        .order_by(reports.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL: builders never wait on each other
    )
    row = connection.execute(
        update(reports)
        .where(AmongSelected(reports.c.id, oldest))
        .values(lease_until=lease_until, attempts=reports.c.attempts + 1)
        .returning(reports.c.id, reports.c.account_id, reports.c.params, reports.c.attempts)
    ).one_or_none()
    return ClaimedReport(*row) if row is not None else None


def _held(report_id: int, attempt: int) -> Any:
    return and_(
        reports.c.id == report_id,
        reports.c.attempts == attempt,
        reports.c.status == ReportBuildStatus.BUILDING.value,
    )


def renew_lease(
    connection: Connection, report_id: int, attempt: int, lease_until: datetime
) -> bool:
    result = connection.execute(
        update(reports).where(_held(report_id, attempt)).values(lease_until=lease_until)
    )
    return bool(result.rowcount)


def finish_report(
    connection: Connection,
    report_id: int,
    attempt: int,
    file_path: str,
    row_count: int,
    now: datetime,
) -> bool:
    result = connection.execute(
        update(reports)
        .where(_held(report_id, attempt))
        .values(
            status=ReportBuildStatus.READY.value,
            file_path=file_path,
            row_count=row_count,
            finished_at=now,
            lease_until=None,
        )
    )
    return bool(result.rowcount)


def fail_report(
    connection: Connection, report_id: int, attempt: int, error: str, now: datetime
) -> bool:
    result = connection.execute(
        update(reports)
        .where(_held(report_id, attempt))
        .values(
            status=ReportBuildStatus.FAILED.value,
            error=kept_error(error),
            finished_at=now,
            lease_until=None,
        )
    )
    return bool(result.rowcount)


def release_report(connection: Connection, report_id: int, attempt: int) -> None:
    """Give a report back unbuilt (the builder is stopping); the attempt does not count."""
    connection.execute(
        update(reports)
        .where(_held(report_id, attempt))
        .values(lease_until=None, attempts=reports.c.attempts - 1)
    )


def release_all_leases(connection: Connection) -> int:
    """Make every report still to build claimable now (only safe when no other builder runs)."""
    result = connection.execute(
        update(reports)
        .where(reports.c.status == ReportBuildStatus.BUILDING.value)
        .values(lease_until=None)
    )
    return int(result.rowcount)


def expire_reports(connection: Connection, finished_before: datetime, now: datetime) -> int:
    """Expire ready reports finished before ``finished_before``."""
    result = connection.execute(
        update(reports)
        .where(
            reports.c.status == ReportBuildStatus.READY.value,
            reports.c.finished_at < finished_before,
        )
        .values(status=ReportBuildStatus.EXPIRED.value, expired_at=now)
    )
    return int(result.rowcount)


def expired_files(
    connection: Connection, expired_by: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, file path) of reports expired at or before ``expired_by``."""
    query = (
        select(reports.c.id, reports.c.file_path)
        .where(
            reports.c.status == ReportBuildStatus.EXPIRED.value, reports.c.expired_at <= expired_by
        )
        .limit(limit)
    )
    return [(report_id, path) for report_id, path in connection.execute(query)]


def mark_deleted(connection: Connection, report_ids: Sequence[int]) -> None:
    connection.execute(
        update(reports)
        .where(reports.c.id.in_(report_ids), reports.c.status == ReportBuildStatus.EXPIRED.value)
        .values(status=ReportBuildStatus.DELETED.value)
    )


def descendants(connection: Connection, account_id: int) -> list[int]:
    """Every sub-account of the account, at any depth."""
    found: list[int] = []
    seen = {account_id}
    frontier = [account_id]
    while frontier:
        children = connection.execute(
            select(accounts.c.id).where(accounts.c.parent_id.in_(frontier))
        ).scalars()
        frontier = [child for child in children if child not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


def ancestors(connection: Connection, account_id: int) -> list[int]:
    """The account's parent, its parent's parent, and so on."""
    found: list[int] = []
    parent = connection.execute(
        select(accounts.c.parent_id).where(accounts.c.id == account_id)
    ).scalar_one_or_none()
    while parent is not None and parent != account_id and parent not in found:
        found.append(parent)
        parent = connection.execute(
            select(accounts.c.parent_id).where(accounts.c.id == parent)
        ).scalar_one_or_none()
    return found


def logins(connection: Connection, account_ids: Sequence[int]) -> dict[int, str]:
    query = select(accounts.c.id, accounts.c.login).where(accounts.c.id.in_(account_ids))
    return {account_id: login for account_id, login in connection.execute(query)}


@dataclass(frozen=True, slots=True)
class MessageSelection:
    """Which parts a report lists: of these accounts, created in [start, end]."""

    account_ids: tuple[int, ...]
    start: datetime
    end: datetime
    states: tuple[MessageState, ...] | None = None
    destination: str | None = None
    sender_name: str | None = None
    # Join each part to this account's contact base by destination.
    contacts_of: int | None = None


# A listed part: (id, created, submitted or None, sender name, destination, text, part count,
# state, reported, price, account id, contact name or None, contact fields or None); times are
# local times of the zone the stream was asked for, to the second, as ``YYYY-MM-DD HH:MM:SS``
# text. Plain tuples: a report has millions.
ListedPart = tuple[
    int,
    str,
    str | None,
    str,
    str,
    str,
    int,
    MessageState,
    str,
    Decimal,
    int,
    str | None,
    dict[str, Any] | None,
]


class _LocalTimes:
    """UTC instants as local times of one zone, ``YYYY-MM-DD HH:MM:SS`` text.

    On SQLite the stored text (``UtcDateTime``: fixed-width UTC) is rewritten directly: the
    local text of each minute is memoised and the seconds carried over. A report of a million
    parts would otherwise spend seconds in the column type's processing. Elsewhere the driver's
    aware datetimes are converted.
    """

    def __init__(self, zone: ZoneInfo, stored_as_text: bool) -> None:
        self._zone = zone
        # The local text of a UTC minute; "" when the zone's offset then had seconds (local
        # mean time, before 1972 in a few zones), which a minute's text cannot carry.
        self._minute = lru_cache(maxsize=_MEMO_SIZE)(self._local_minute)
        self.convert: Callable[[Any], str] = (
            self._from_text if stored_as_text else self._from_datetime
        )

    def _from_text(self, raw: str) -> str:
        local = self._minute(raw[:16])
        if local:
            return local + raw[16:19]
        return self._from_datetime(datetime.fromisoformat(raw).replace(tzinfo=UTC))

    def _local_minute(self, minute: str) -> str:
        moment = datetime.fromisoformat(minute).replace(tzinfo=UTC).astimezone(self._zone)
        offset = moment.utcoffset()
        if offset is None or offset.seconds % 60:
            return ""
        return moment.replace(tzinfo=None).isoformat(" ", "minutes")

    def _from_datetime(self, value: datetime) -> str:
        return value.astimezone(self._zone).replace(tzinfo=None).isoformat(" ", "seconds")


_STATES = {state.value: state for state in MessageState}


# Where a page of parts ended: the last part's creation (as stored) and id.
PageEnd = tuple[Any, int]


# Where the price is among ``_parts_query``'s columns: its conversion is the driver's own.
_PRICE_COLUMN = 9


def _parts_query(
    selection: MessageSelection, after: PageEnd | None, page_size: int, dialect: str
) -> Select[Any]:
    """The next page of the selected parts: the columns ``parts_page`` lists, in that order."""
    stored_as_text = dialect == "sqlite"

    def instant(column: Any) -> Any:
        return type_coerce(column, String()) if stored_as_text else column

    m = messages.c
    columns = [
        m.id,
        instant(m.created_at),
        instant(m.submitted_at),
        m.sender_name,
        m.destination,
        m.text,
        m.part_count,
        m.state,
        instant(m.reported_at),
        # Prices repeat: the type's conversion runs once per distinct value (``parts_page``).
        type_coerce(m.price, NullType()),
        m.account_id,
    ]
    conditions = [m.created_at <= through_its_last_digit(selection.end)]
    if after is None:
        conditions.append(m.created_at >= selection.start)
    else:
        created = bindparam("after_created", after[0], type_=String() if stored_as_text else None)
        conditions += following(
            instant(m.created_at), m.id, created, bindparam("after_id", after[1])
        )
    if selection.states is not None:
        conditions.append(m.state.in_(stored(selection.states)))
    if selection.destination is not None:
        conditions.append(m.destination == selection.destination)
    if selection.sender_name is not None:
        conditions.append(m.sender_name == selection.sender_name)
    query = select(*columns)
    if selection.contacts_of is not None:
        query = query.add_columns(contacts.c.name, contacts.c.fields).select_from(
            messages.outerjoin(
                contacts,
                and_(
                    contacts.c.account_id == selection.contacts_of,
                    contacts.c.phone == m.destination,
                ),
            )
        )

    def page_of(scope: ColumnElement[bool]) -> Select[Any]:
        selected = query.where(scope, *conditions)
        return selected.order_by(m.created_at, m.id).limit(page_size)

    account_ids = selection.account_ids
    if len(account_ids) == 1:
        return page_of(m.account_id == account_ids[0])
    if dialect != "postgresql":
        # SQLite reads each account's range of the index and sorts (a compound SELECT would
        # also stop at 500 accounts there).
        return page_of(m.account_id.in_(account_ids))
    # Each account's page from its own range of the (account, time) index, merged: as
    # ``account_id IN (...)`` PostgreSQL read the whole table for every page of a report of
    # sub-accounts (0.9 s a page among 5 million parts, against 6 ms).
    pages = union_all(
        *(page_of(m.account_id == account_id).subquery().select() for account_id in account_ids)
    ).subquery()
    return select(*pages.c).order_by(pages.c.created_at, pages.c.id).limit(page_size)


def parts_page(
    connection: Connection,
    selection: MessageSelection,
    zone: str,
    after: PageEnd | None,
    page_size: int = 5000,
) -> tuple[list[ListedPart], PageEnd | None]:
    """The next ``page_size`` selected parts, oldest first with times in ``zone``, after
    ``after``; and where they end (None when there are no more). Each page is its own short
    read: a build holding one read for its whole length kept SQLite's WAL from being
    checkpointed (it grew to tens of MB under load) and PostgreSQL's vacuum from the parts."""
    dialect = connection.dialect
    stored_as_text = dialect.name == "sqlite"
    result = connection.execute(_parts_query(selection, after, page_size, dialect.name))
    # Some drivers' conversions depend on the column's type code there (psycopg's NUMERIC).
    price_type_code = result.cursor.description[_PRICE_COLUMN][1]
    price_type = messages.c.price.type.dialect_impl(dialect)
    price_processor = price_type.result_processor(dialect, price_type_code)
    assert price_processor is not None
    # Money's processing never answers None for a value of the NOT NULL column.
    price = cast(Callable[[Any], Decimal], lru_cache(maxsize=_MEMO_SIZE)(price_processor))
    page = result.all()
    if not page:
        return [], None
    local = _LocalTimes(zone_info(zone), stored_as_text).convert
    states = _STATES
    with_contacts = selection.contacts_of is not None
    # By position, in ``_parts_query``'s order: a page holds thousands of rows.
    listed: list[ListedPart] = [
        (
            row[0],
            local(row[1]),
            None if row[2] is None else local(row[2]),
            row[3],
            row[4],
            row[5],
            row[6],
            states[row[7]],
            local(row[8]),
            price(row[_PRICE_COLUMN]),
            row[10],
            row[11] if with_contacts else None,
            row[12] if with_contacts else None,
        )
        for row in page
    ]
    return listed, (page[-1][1], page[-1][0])
