"""Delivery receipts: text parsing, stat mapping, message id normalisation, TLV precedence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.delivery.connector import DeliveryReport, ReportStatus
from smsgate.delivery.smpp.receipt import (
    Receipt,
    ReceiptError,
    SmppMessageState,
    _parse_key_by_key,
    delivery_report,
    normalize_message_id,
    parse_receipt,
)

STANDARD = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2403151230 done date:2403151231 "
    "stat:DELIVRD err:000 text:Hello world"
)


def test_standard_receipt() -> None:
    assert parse_receipt(STANDARD) == Receipt(
        message_id="0123456789",
        submitted="001",
        delivered="001",
        submit_date=datetime(2024, 3, 15, 12, 30, tzinfo=UTC),
        done_date=datetime(2024, 3, 15, 12, 31, tzinfo=UTC),
        stat="DELIVRD",
        err="000",
        text="Hello world",
    )


@pytest.mark.parametrize(
    "text",
    [
        "ID:abc SUB:001 DLVRD:001 SUBMIT DATE:2403151230 DONE DATE:240315123145"
        " STAT:UNDELIV ERR:034",
        "Id:abc stat:UNDELIV err:034 done_date:240315123145 submit_date:2403151230 Text:",
        "stat:UNDELIV  id: abc  err:034 donedate:240315123145 submitdate:2403151230",
        "id:abc\x00 stat:UNDELIV err:034 done date:240315123145 submit date:2403151230\x00",
    ],
)
def test_case_order_and_spelling_variants(text: str) -> None:
    receipt = parse_receipt(text)
    assert (receipt.message_id, receipt.stat, receipt.err) == ("abc", "UNDELIV", "034")
    assert receipt.submit_date == datetime(2024, 3, 15, 12, 30, tzinfo=UTC)
    assert receipt.done_date == datetime(2024, 3, 15, 12, 31, 45, tzinfo=UTC)


def test_missing_fields() -> None:
    assert parse_receipt("id:77 stat:EXPIRED") == Receipt(message_id="77", stat="EXPIRED")
    assert parse_receipt("") == Receipt()
    assert parse_receipt("no receipt here") == Receipt()
    assert parse_receipt("id: stat:") == Receipt()


def test_text_runs_to_the_end_and_cannot_fake_fields() -> None:
    receipt = parse_receipt("id:1 stat:UNDELIV err:1 text:id:2 stat:DELIVRD ok")
    assert (receipt.message_id, receipt.stat, receipt.text) == (
        "1",
        "UNDELIV",
        "id:2 stat:DELIVRD ok",
    )


def test_keys_inside_words_are_not_keys() -> None:
    receipt = parse_receipt("msgid:9 id:1 substat:X stat:DELIVRD")
    assert (receipt.message_id, receipt.stat) == ("1", "DELIVRD")


def test_first_occurrence_wins() -> None:
    assert parse_receipt("id:1 id:2 stat:DELIVRD").message_id == "1"


# Values of the Appendix B layout: words, some like keys; then one value (or the text) made of
# the colons, blanks and NULs that may make a receipt leave the layout's one-match reading.
def _joined(pieces: list[str], min_size: int = 0) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), min_size=min_size, max_size=5).map("".join)


_WORD = _joined([*"0159aZ-_.é", "id", "stat", "date", "text", "sub"], min_size=1)
_ODD = _joined([*"0a:é \t\x00\u00a0", "-id:", ".stat:", "text:", "done date:"])


def _appendix_b(values: list[str], text: str | None) -> str:
    keys = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")
    fields = " ".join(f"{key}:{value}" for key, value in zip(keys, values, strict=True))
    return fields if text is None else f"{fields} text:{text}"


@given(
    st.lists(_WORD, min_size=7, max_size=7),
    st.integers(0, 7),
    _ODD,
    st.none() | _WORD,
)
def test_the_appendix_b_layout_reads_as_key_by_key(
    values: list[str], odd_place: int, odd: str, text: str | None
) -> None:
    if odd_place < len(values):
        values[odd_place] = odd
    else:
        text = odd
    receipt = _appendix_b(values, text)
    assert parse_receipt(receipt) == _parse_key_by_key(receipt.replace("\x00", " "), UTC)


def test_the_appendix_b_layout_with_its_dates() -> None:
    values = ["a1", "1", "1", "2403151230", "240315123145", "x", "0"]
    receipt = parse_receipt(_appendix_b(values, ""))
    assert receipt.submit_date == datetime(2024, 3, 15, 12, 30, tzinfo=UTC)
    assert receipt.done_date == datetime(2024, 3, 15, 12, 31, 45, tzinfo=UTC)
    assert receipt.text is None


@pytest.mark.parametrize(
    "value",
    [
        "2413011200",
        "2402301200",
        "2401012500",
        "240101120",
        "24010112000",
        "240101120099",
        "２４0101",
    ],
)
def test_bad_dates_are_none(value: str) -> None:
    assert parse_receipt(f"id:1 done date:{value} stat:DELIVRD").done_date is None


def test_dates_with_the_century() -> None:
    receipt = parse_receipt("submit date:20240315123000 done date:19991231235959 stat:DELIVRD")
    assert receipt.submit_date == datetime(2024, 3, 15, 12, 30, tzinfo=UTC)
    assert receipt.done_date == datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_receipt("done date:30240315123000").done_date is None


def test_dates_in_the_smsc_zone() -> None:
    moscow = timezone(timedelta(hours=3))
    done = parse_receipt("done date:2403151231", tz=moscow).done_date
    assert done == datetime(2024, 3, 15, 9, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("DELIVRD", ReportStatus.DELIVERED),
        ("delivrd", ReportStatus.DELIVERED),
        ("DELIVERED", ReportStatus.DELIVERED),
        ("UNDELIV", ReportStatus.NOT_DELIVERED),
        ("UNDELIVERABLE", ReportStatus.NOT_DELIVERED),
        ("REJECTD", ReportStatus.NOT_DELIVERED),
        ("REJECTED", ReportStatus.NOT_DELIVERED),
        ("DELETED", ReportStatus.NOT_DELIVERED),
        ("UNKNOWN", ReportStatus.NOT_DELIVERED),
        ("EXPIRED", ReportStatus.EXPIRED),
        (" expired ", ReportStatus.EXPIRED),
        ("ENROUTE", None),
        ("ACCEPTD", None),
        ("ACCEPTED", None),
        ("FAILED", ReportStatus.NOT_DELIVERED),
        ("UNDELIVERED", ReportStatus.NOT_DELIVERED),
        ("DELETD", ReportStatus.NOT_DELIVERED),
        ("EXPIRD", ReportStatus.EXPIRED),
        ("", None),
    ],
)
def test_the_stat_gives_the_report_its_status(stat: str, status: ReportStatus | None) -> None:
    found = report(f"id:1 stat:{stat}")
    assert (found.status if found is not None else None) == status


# --- message ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("12345", "12345"),
        ("0012345", "12345"),
        ("0", "0"),
        ("000", "0"),
        (" 42\x00", "42"),
        ("1A2B3C", "1715004"),
        ("1a2b3c", "1715004"),
        ("001a2b3c", "1715004"),
        ("DEADBEEF", "3735928559"),
        ("550E8400-E29B-41D4-A716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
        ("Msg-XYZ", "msg-xyz"),
        ("", ""),
        ("١٢٣", "١٢٣"),  # not ASCII digits: not a number
        ("1" * 65, "1" * 64),  # longer than any SMPP message_id: cut to what the store keeps
        ("f" * 60, "f" * 60),  # more decimal digits than the store keeps: left as written
        ("Z" * 70, "z" * 64),
    ],
)
def test_normalize_message_id(raw: str, canonical: str) -> None:
    assert normalize_message_id(raw) == canonical


@given(st.integers(0, 2**64))
def test_hex_and_decimal_meet(value: int) -> None:
    """Whichever side writes hex, both forms of one id agree once the hex side is known."""
    decimal, hex_upper, hex_lower = str(value), f"{value:X}", f"{value:08x}"
    for hex_form in (hex_upper, hex_lower):
        assert normalize_message_id(hex_form, digits_are_hex=True) == normalize_message_id(decimal)
        if any(c.isalpha() for c in hex_form):  # letters make hex unmistakable by themselves
            assert normalize_message_id(hex_form) == normalize_message_id(decimal)


def test_cross_cases() -> None:
    # submit_sm_resp hex, receipt decimal
    assert normalize_message_id("0A1B2C3D") == normalize_message_id("169552957")
    # submit_sm_resp decimal, receipt hex
    assert normalize_message_id("169552957") == normalize_message_id("a1b2c3d")
    # digits-only hex is the ambiguous case: the connector says which side writes hex
    assert normalize_message_id("12345678") != normalize_message_id("305419896")
    assert normalize_message_id("12345678", digits_are_hex=True) == normalize_message_id(
        "305419896"
    )


@given(st.text(max_size=70))
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize_message_id(raw)
    assert normalize_message_id(once) == once


# --- delivery_report --------------------------------------------------------------------------

RECEIVED = datetime(2024, 3, 15, 13, 0, tzinfo=UTC)


def report(text: str, **kwargs: Any) -> DeliveryReport | None:
    return delivery_report("smsc1", text.encode(), 0, received_at=RECEIVED, **kwargs)


def test_report_from_text() -> None:
    assert report(STANDARD) == DeliveryReport(
        connector="smsc1",
        smsc_id="123456789",
        status=ReportStatus.DELIVERED,
        done_at=datetime(2024, 3, 15, 12, 31, tzinfo=UTC),
        error=None,
    )


def test_report_failure_carries_the_reason() -> None:
    result = report("id:5 stat:UNDELIV err:034")
    assert result is not None
    assert (result.status, result.error, result.done_at) == (
        ReportStatus.NOT_DELIVERED,
        "UNDELIVERABLE err:034",
        RECEIVED,
    )
    expired = report("id:5 stat:EXPIRED")
    assert expired is not None and (expired.status, expired.error) == (
        ReportStatus.EXPIRED,
        "EXPIRED",
    )


@pytest.mark.parametrize("text", ["id:5 stat:ENROUTE", "id:5 stat:ACCEPTD", "id:5"])
def test_intermediate_receipts_are_not_reports(text: str) -> None:
    assert report(text) is None


@pytest.mark.parametrize("stat", ["??", "BOUNCED"])
def test_an_unknown_stat_word_is_an_unreadable_receipt(stat: str) -> None:
    with pytest.raises(ReceiptError, match="unknown stat"):
        report(f"id:5 stat:{stat}")
    # the message_state TLV still decides
    assert report(f"id:5 stat:{stat}", message_state=SmppMessageState.DELIVERED) is not None


def test_tlvs_win_over_the_text() -> None:
    result = report(STANDARD, receipted_message_id="ff", message_state=SmppMessageState.REJECTED)
    assert result is not None
    assert (result.smsc_id, result.status) == ("255", ReportStatus.NOT_DELIVERED)
    assert report(STANDARD, message_state=SmppMessageState.ENROUTE) is None


def test_unknown_message_state_falls_back_to_the_text() -> None:
    result = report(STANDARD, message_state=0)
    assert result is not None and result.status == ReportStatus.DELIVERED


def test_id_formats_per_side() -> None:
    """The TLV repeats submit_sm_resp's id; the text may use the other base."""
    text = "id:4660 stat:DELIVRD"
    by_tlv = report(text, receipted_message_id="1234", submit_ids_hex=True)
    by_text = report(text)
    assert by_tlv is not None and by_text is not None
    assert by_tlv.smsc_id == by_text.smsc_id == "4660"
    by_hex_text = report("id:1234 stat:DELIVRD", receipt_ids_hex=True)
    assert by_hex_text is not None and by_hex_text.smsc_id == "4660"


def test_final_receipt_without_id() -> None:
    with pytest.raises(ReceiptError):
        report("stat:DELIVRD")
    with pytest.raises(ReceiptError):
        report("id:\x00 stat:DELIVRD", receipted_message_id=" \x00")
    blank_tlv = report("id:12 stat:DELIVRD", receipted_message_id=" ")
    assert blank_tlv is not None and blank_tlv.smsc_id == "12"
    result = report("stat:DELIVRD", receipted_message_id="7")
    assert result is not None and result.smsc_id == "7"


def test_receipt_text_is_ascii_whatever_data_coding_says() -> None:
    """Decoded as GSM, the '_' of submit_date would be '§' and the key lost."""
    text = b"id:9 submit_date:2403151230 stat:DELIVRD"
    result = delivery_report("c", text, 0, received_at=RECEIVED)
    assert result is not None and result.smsc_id == "9"


def test_ucs2_receipt() -> None:
    text = "id:9 stat:DELIVRD".encode("utf-16-be")
    result = delivery_report("c", text, 8, received_at=RECEIVED)
    assert result is not None and result.status == ReportStatus.DELIVERED
