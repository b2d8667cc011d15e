"""``Statistic/all_stat.php``: order a detailed report, or download it with ``id_report``.

The errors and their codes are listed in ``smsgate.services.reports``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from smsgate.api.rest.call import ApiCall
from smsgate.domain.dates import parse_api_datetime
from smsgate.domain.errors import InvalidArgument, MissingArgument
from smsgate.services import reports
from smsgate.services.reports import (
    BAD_END,
    BAD_REQUEST,
    BAD_START,
    NO_END,
    NO_START,
    ReportFormat,
    ReportOrder,
)


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """A file to send as the response instead of JSON: open, ``size`` octets long; closed
    once sent."""

    content: BinaryIO
    size: int
    media_type: str
    filename: str


def _bound(call: ApiCall, names: tuple[str, str], missing: str, bad_format: str) -> datetime:
    raw = call.params.get(names[0]) or call.params.get(names[1])
    if raw is None:
        raise MissingArgument(names[1], missing)
    try:
        return parse_api_datetime(raw).replace(tzinfo=UTC)
    except InvalidArgument:
        raise InvalidArgument(bad_format) from None


def _switch(call: ApiCall, name: str) -> bool:
    """A 0/1 parameter; absent is 0."""
    value = (call.params.get(name) or "0").strip()
    if value not in ("0", "1"):
        raise InvalidArgument(BAD_REQUEST)
    return value == "1"


async def all_stat(call: ApiCall) -> int | FileAnswer:
    account = await call.account()
    platform = call.platform
    raw_id = call.params.get("id_report")
    if raw_id is not None:
        found = await reports.report_file(
            platform.database,
            account.id,
            reports.parse_report_id(raw_id),
            platform.settings.reports_folder,
        )
        return FileAnswer(found.content, found.size, found.format.media_type, found.download_name)
    state = call.params.get("state")
    phone = call.params.get("phone")
    sender_name = call.params.get("originator")
    order = ReportOrder(
        start=_bound(call, ("startTime", "startDateTime"), NO_START, BAD_START),
        end=_bound(call, ("endTime", "endDateTime"), NO_END, BAD_END),
        format=ReportFormat.XLSX if _switch(call, "type_load") else ReportFormat.CSV,
        zone=account.timezone or platform.settings.default_timezone,
        state=state.strip().lower() if state is not None else None,
        phone=reports.report_phone(phone) if phone is not None else None,
        sender_name=reports.report_sender_name(sender_name) if sender_name is not None else None,
        contacts=_switch(call, "c_base"),
        sub_accounts=_switch(call, "sub_stat"),
    )
    report_id = await reports.order_report(
        platform.database, account.id, order, platform.settings.report_rows_kept
    )
    platform.report_ordered()
    return report_id
