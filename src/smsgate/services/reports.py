"""Detailed statistics (``Statistic/all_stat.php``): ordering a report and fetching its file.

A report lists the message parts an account created in a period, optionally with its
sub-accounts' and joined to its contact base; the platform's report builder writes the file
in the background (``smsgate.reports``).

Errors carry the guide's texts exactly:

- Code 1: "StartDateTime can not be null or empty\\r\\nParameter name: startDateTime" (or
  EndDateTime, with a real CR LF as .NET writes it), when neither spelling of the bound was sent;
- Code 2, a bad argument: "Not correct format startTime" / "Not correct format endTime",
  "Phone must be numeric", "Not correct length phone", "Not correct length originator" (a
  sender name filter longer than a sender name can be), "Id report not found" (no such report,
  or another account's), "Bad Request" (the end before the start; a ``state``, ``c_base``,
  ``sub_stat`` or ``type_load`` value not allowed);
- Code 6, not now: "More than 2 reports at once are not allowed, make request later",
  "Report is not ready yet", "File not exist" (deleted by retention, or the build failed);
- Code 4: "SessionID expired", the authenticator's answer as on every endpoint.
"""

from __future__ import annotations

import asyncio
import enum
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from smsgate.domain.digits import is_ascii_digits, quoted_id
from smsgate.domain.errors import InvalidArgument, InvalidOperation
from smsgate.domain.phone import MAX_INTERNATIONAL_DIGITS, normalize_phone, without_formatting
from smsgate.domain.sender import longest_sender_name
from smsgate.domain.states import MessageState
from smsgate.domain.text import refuse_nul
from smsgate.store import reports as store
from smsgate.store.accounts import lock_account
from smsgate.store.database import Database
from smsgate.store.reports import ReportBuildStatus

MAX_BUILDING = 2
TOO_MANY = f"More than {MAX_BUILDING} reports at once are not allowed, make request later"
BAD_REQUEST = "Bad Request"


def too_many_kept(rows: int) -> str:
    return f"Reports of more than {rows:,} rows are kept, make request later"


BAD_START = "Not correct format startTime"
BAD_END = "Not correct format endTime"
NO_START = "StartDateTime can not be null or empty\r\nParameter name: startDateTime"
NO_END = "EndDateTime can not be null or empty\r\nParameter name: endDateTime"
PHONE_NOT_NUMERIC = "Phone must be numeric"
PHONE_LENGTH = "Not correct length phone"
ORIGINATOR_LENGTH = "Not correct length originator"
NOT_FOUND = "Id report not found"
NOT_READY = "Report is not ready yet"
NO_FILE = "File not exist"

# E.164's bound; the shortest numbers in service (a few island nations) have 7 digits.
PHONE_DIGITS = range(7, MAX_INTERNATIONAL_DIGITS + 1)

_IN_PROGRESS = tuple(state for state in MessageState if not state.is_final)
STATE_FILTERS: dict[str, tuple[MessageState, ...]] = {
    "deliver": (MessageState.DELIVERED,),
    "not_deliver": (MessageState.NOT_DELIVERED,),
    "expired": (MessageState.EXPIRED,),
    "sent": _IN_PROGRESS,
}


class ReportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    ReportFormat.CSV: "text/csv; charset=utf-8",
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class ReportOrder:
    """What a report lists and how; kept with the report so a rebuild lists the same.

    The period is in UTC, like ``Statistic``'s, so both count the same parts; the file shows
    times in ``zone`` (the account's, else the platform's).
    """

    start: datetime
    end: datetime
    format: ReportFormat
    zone: str
    state: str | None = None
    phone: str | None = None
    # The sender name the parts were sent from (``originator``).
    sender_name: str | None = None
    contacts: bool = False
    sub_accounts: bool = False

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidArgument(BAD_REQUEST)
        if self.state is not None and self.state not in STATE_FILTERS:
            raise InvalidArgument(BAD_REQUEST)

    @property
    def states(self) -> tuple[MessageState, ...] | None:
        return STATE_FILTERS[self.state] if self.state is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "format": self.format.value,
            "zone": self.zone,
            "state": self.state,
            "phone": self.phone,
            "sender_name": self.sender_name,
            "contacts": self.contacts,
            "sub_accounts": self.sub_accounts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportOrder:
        return cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            format=ReportFormat(data["format"]),
            zone=data["zone"],
            state=data["state"],
            phone=data["phone"],
            # Orders made before the filter existed have none.
            sender_name=data.get("sender_name"),
            contacts=data["contacts"],
            sub_accounts=data["sub_accounts"],
        )


def report_sender_name(raw: str) -> str:
    """The ``originator`` filter: a sender name, matched exactly as sends store it (a space
    may begin one). One longer than any sender name can be (letters: 11, digits: 15) answers
    the guide's error."""
    name = refuse_nul("originator", raw)
    if not 0 < len(name) <= longest_sender_name(name):
        raise InvalidArgument(ORIGINATOR_LENGTH)
    return name


def report_phone(raw: str) -> str:
    """The ``phone`` filter as stored destinations read: formatting stripped, and normalised
    when it is a valid number (any other number of a possible length simply matches none)."""
    digits = without_formatting(raw)
    if not is_ascii_digits(digits):
        raise InvalidArgument(PHONE_NOT_NUMERIC)
    if len(digits) not in PHONE_DIGITS:
        raise InvalidArgument(PHONE_LENGTH)
    try:
        return normalize_phone(digits)
    except InvalidArgument:
        return digits


async def order_report(
    database: Database, account_id: int, order: ReportOrder, rows_kept: int
) -> int:
    """Record the order for the builder; its id. Refused while two of the account's reports
    are building, or while its files kept hold ``rows_kept`` rows: 80 orders of one report
    in 20 s wrote 185 MB, kept a week."""

    def record(connection: Any) -> int:
        # Holds the account row on PostgreSQL, so two orders cannot both see one building.
        lock_account(connection, account_id)
        if store.count_building(connection, account_id) >= MAX_BUILDING:
            raise InvalidOperation(TOO_MANY)
        if store.rows_kept(connection, account_id) >= rows_kept:
            raise InvalidOperation(too_many_kept(rows_kept))
        return store.insert_report(connection, account_id, order.to_json(), datetime.now(UTC))

    return await database.write(record)


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A built report's file, open: the sweeper may delete it meanwhile, and an open file
    stays readable to its end. Whoever takes it closes ``content``."""

    id: int
    format: ReportFormat
    content: BinaryIO
    size: int

    @property
    def download_name(self) -> str:
        return f"report-{self.id}.{self.format.value}"


async def report_file(
    database: Database, account_id: int, report_id: int, reports_dir: Path
) -> ReportFile:
    """The file of a report the account (or one of its sub-accounts) ordered."""

    def find(connection: Any) -> store.ReportRow | None:
        report = store.find_report(connection, report_id)
        if report is None or report.account_id == account_id:
            return report
        return report if account_id in store.ancestors(connection, report.account_id) else None

    report = await database.lookup(find)
    if report is None:
        raise InvalidArgument(NOT_FOUND)
    if report.status is ReportBuildStatus.BUILDING:
        raise InvalidOperation(NOT_READY)
    if report.status is not ReportBuildStatus.READY or report.file_path is None:
        raise InvalidOperation(NO_FILE)
    try:
        content = await asyncio.to_thread(_open_file, reports_dir / report.file_path)
    except (FileNotFoundError, IsADirectoryError):  # swept, or the folder cleaned by hand
        raise InvalidOperation(NO_FILE) from None
    size = os.fstat(content.fileno()).st_size
    return ReportFile(report.id, ReportFormat(report.params["format"]), content, size)


def _open_file(path: Path) -> BinaryIO:
    return path.open("rb")


def parse_report_id(raw: str) -> int:
    report_id = quoted_id(raw)
    if report_id is None:
        raise InvalidArgument(NOT_FOUND)
    return report_id
