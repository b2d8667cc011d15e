"""Delivery receipts: the SMPP 3.4 Appendix B text, the receipt TLVs, and SMSC message ids.

A receipt finds its part through ``normalize_message_id``, applied both to the message_id of
submit_sm_resp (kept as the part's smsc_id) and to the id the receipt names. The canonical
form of a number is its decimal value without leading zeros, so that an SMSC answering in hex
and reporting in decimal (or the reverse) still matches.
"""

from __future__ import annotations

import enum
import functools
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final

from smsgate.delivery.connector import DeliveryReport, ReportStatus
from smsgate.delivery.smpp.text import DataCoding, decode_body


class SmppMessageState(enum.IntEnum):
    """Values of the message_state TLV (SMPP 3.4 §5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class ReceiptError(ValueError):
    """A final receipt that names no message."""


_FINAL_STATUS: Final[dict[SmppMessageState, ReportStatus | None]] = {
    SmppMessageState.ENROUTE: None,
    SmppMessageState.DELIVERED: ReportStatus.DELIVERED,
    SmppMessageState.EXPIRED: ReportStatus.EXPIRED,
    SmppMessageState.DELETED: ReportStatus.NOT_DELIVERED,
    SmppMessageState.UNDELIVERABLE: ReportStatus.NOT_DELIVERED,
    SmppMessageState.ACCEPTED: None,
    SmppMessageState.UNKNOWN: ReportStatus.NOT_DELIVERED,
    SmppMessageState.REJECTED: ReportStatus.NOT_DELIVERED,
}
# Appendix B's seven-letter stat values, plus the full names and spellings SMSCs and
# aggregators write instead.
_STATE_BY_STAT: Final = {state.name: state for state in SmppMessageState} | {
    "DELIVRD": SmppMessageState.DELIVERED,
    "UNDELIV": SmppMessageState.UNDELIVERABLE,
    "UNDELIVERED": SmppMessageState.UNDELIVERABLE,
    "FAILED": SmppMessageState.UNDELIVERABLE,
    "REJECTD": SmppMessageState.REJECTED,
    "ACCEPTD": SmppMessageState.ACCEPTED,
    "EXPIRD": SmppMessageState.EXPIRED,
    "DELETD": SmppMessageState.DELETED,
}


def _stat_state(stat: str | None) -> SmppMessageState | None:
    return None if stat is None else _STATE_BY_STAT.get(stat.strip().upper())


@dataclass(frozen=True, slots=True)
class Receipt:
    """The fields of a receipt text; any of them may be missing."""

    message_id: str | None = None
    submitted: str | None = None  # sub
    delivered: str | None = None  # dlvrd
    submit_date: datetime | None = None
    done_date: datetime | None = None
    stat: str | None = None
    err: str | None = None
    text: str | None = None


_KEY: Final = re.compile(r"\b(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:")
# Keys are matched in a lowered copy, as an IGNORECASE scan is twice as slow; non-ASCII text
# gets only A-Z lowered, as str.lower() may change its length ('İ') and so the value positions.
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_FIELD_BY_KEY: Final = {
    "id": "message_id",
    "sub": "submitted",
    "dlvrd": "delivered",
    **{f"submit{gap}date": "submit_date" for gap in ("", " ", "_")},
    **{f"done{gap}date": "done_date" for gap in ("", " ", "_")},
    "stat": "stat",
    "err": "err",
    "text": "text",
}
_DATE: Final = re.compile(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?", re.ASCII)
_CENTURY: Final = re.compile(r"(?:19|20)\d{12}", re.ASCII)


# An SMSC's receipts of one minute carry the same dates: each is read once.
@functools.lru_cache(maxsize=1024)
def _date(value: str | None, tz: tzinfo) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss (Appendix B), or YYYYMMDDhhmmss as some SMSCs write it;
    None when absent or not a date."""
    value = value or ""
    century = 2000
    if _CENTURY.fullmatch(value):
        century, value = 100 * int(value[:2]), value[2:]
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = map(int, match.groups("0"))
    try:
        return datetime(century + year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None


# The layout of SMPP 3.4 Appendix B, which nearly every SMSC writes, read in one match (a
# quarter of the time the key-by-key reading takes). Its values hold no colon, so none can hide
# a key: where it matches, it reads what the key-by-key reading reads.
_APPENDIX_B: Final = re.compile(
    r"id:([^\s:]+) sub:([^\s:]+) dlvrd:([^\s:]+) submit date:([^\s:]+) done date:([^\s:]+)"
    r" stat:([^\s:]+) err:([^\s:]+)(?: text:(.*))?",
    re.DOTALL,
)


def parse_receipt(text: str, *, tz: tzinfo = UTC) -> Receipt:
    """Read ``id:.. sub:.. dlvrd:.. submit date:.. done date:.. stat:.. err:.. text:..``.

    Keys are case-insensitive and may come in any order or not at all; each value is the first
    word after its key, except ``text``, which runs to the end: every SMSC puts it last, and it
    then cannot smuggle a field in from the message's own words. Dates are read in ``tz``.
    """
    text = text.replace("\0", " ")
    standard = _APPENDIX_B.fullmatch(text)
    if standard is None:
        return _parse_key_by_key(text, tz)
    message_id, submitted, delivered, submit_date, done_date, stat, err, rest = standard.groups()
    return Receipt(
        message_id=message_id,
        submitted=submitted,
        delivered=delivered,
        submit_date=_date(submit_date, tz),
        done_date=_date(done_date, tz),
        stat=stat,
        err=err,
        text=(rest or "").strip() or None,
    )


def _parse_key_by_key(text: str, tz: tzinfo) -> Receipt:
    values: dict[str, str] = {}
    folded = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
    keys = list(_KEY.finditer(folded))
    for i, key in enumerate(keys):
        name = _FIELD_BY_KEY[key[1]]
        if name == "text":
            values["text"] = text[key.end() :].strip()
            break
        stop = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        words = text[key.end() : stop].split(maxsplit=1)
        values.setdefault(name, words[0] if words else "")
    found = {name: value for name, value in values.items() if value}
    return Receipt(
        message_id=found.get("message_id"),
        submitted=found.get("submitted"),
        delivered=found.get("delivered"),
        submit_date=_date(found.get("submit_date"), tz),
        done_date=_date(found.get("done_date"), tz),
        stat=found.get("stat"),
        err=found.get("err"),
        text=found.get("text"),
    )


_BLANK: Final = " \t\r\n\0"
_DECIMAL: Final = re.compile("[0-9]+")
_HEX: Final = re.compile("[0-9a-fA-F]+")
_MAX_ID_LENGTH: Final = 64  # message_id is a C-octet string of at most 65 octets


def normalize_message_id(raw: str, *, digits_are_hex: bool = False) -> str:
    """The canonical form of an SMSC message id: numbers as decimal, anything else lower case.

    An id with a letter a-f is hex; an id of digits alone is decimal unless ``digits_are_hex``
    (set it for whichever side of a connector writes hex: the digits-only hex id is the one
    case a single string cannot settle). Case, blanks and leading zeros never matter.
    """
    value = raw.strip(_BLANK)[:_MAX_ID_LENGTH]
    number = None
    if _DECIMAL.fullmatch(value):
        number = str(int(value, 16 if digits_are_hex else 10))
    elif _HEX.fullmatch(value):
        number = str(int(value, 16))
    # A long hex id has more decimal digits than the store keeps: it stays as written.
    if number is not None and len(number) <= _MAX_ID_LENGTH:
        return number
    return value.lower()


def _receipt_text(short_message: bytes, data_coding: int) -> str:
    # SMSCs write receipts in ASCII whatever data_coding says ('_' of "submit_date" is no GSM
    # septet), except the few that use UCS-2.
    if data_coding == DataCoding.UCS2:
        return decode_body(short_message, data_coding)
    return short_message.decode("latin-1")


def delivery_report(
    connector: str,
    short_message: bytes,
    data_coding: int,
    *,
    received_at: datetime,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    submit_ids_hex: bool = False,
    receipt_ids_hex: bool = False,
    tz: tzinfo = UTC,
) -> DeliveryReport | None:
    """The final report in a receipt (text plus TLVs), or None while the message is en route.

    The TLVs win over the text. receipted_message_id repeats submit_sm_resp's message_id, so
    it is read like that one (``submit_ids_hex``); the text's id with ``receipt_ids_hex``.
    ``done_at`` is the receipt's done date, else ``received_at``. Raises ``ReceiptError`` for a
    final receipt that names no message, and for a stat word it does not know.
    """
    receipt = parse_receipt(_receipt_text(short_message, data_coding), tz=tz)
    if message_state in _FINAL_STATUS:
        state: SmppMessageState | None = SmppMessageState(message_state)
    else:
        state = _stat_state(receipt.stat)
        if state is None and receipt.stat is not None:
            # Asked for final receipts only, an unknown word is most likely a failure: say so
            # rather than take it for a message still on its way.
            raise ReceiptError(f"unknown stat {receipt.stat!r}")
    status = None if state is None else _FINAL_STATUS[state]
    if state is None or status is None:
        return None
    smsc_id = normalize_message_id(
        receipted_message_id or "", digits_are_hex=submit_ids_hex
    ) or normalize_message_id(receipt.message_id or "", digits_are_hex=receipt_ids_hex)
    if not smsc_id:
        raise ReceiptError(f"final receipt ({state.name}) names no message")
    error = None
    if status is not ReportStatus.DELIVERED:
        error = state.name if receipt.err is None else f"{state.name} err:{receipt.err}"
    return DeliveryReport(
        connector=connector,
        smsc_id=smsc_id,
        status=status,
        done_at=receipt.done_date or received_at,
        error=error,
    )
