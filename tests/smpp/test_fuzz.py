"""Hostile input: whatever arrives, decoding raises nothing but the module's own error."""

from __future__ import annotations

import contextlib
import struct
from datetime import UTC, datetime
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.delivery.smpp.pdu import CommandId, FrameReader, Pdu, PduError, decode, encode
from smsgate.delivery.smpp.receipt import ReceiptError, delivery_report
from smsgate.delivery.smpp.text import TextError, decode_body, message_body
from smsgate.delivery.smpp.udh import UdhError, find_concat, split_udh

from .strategies import pdus

FUZZ = settings(max_examples=200, deadline=None)


def decodes_or_pdu_error(data: bytes) -> None:
    """Decode ``data``; a PDU that comes out must survive re-encoding unchanged."""
    try:
        header, pdu = decode(data)
    except PduError as error:
        assert error.status != 0
        return
    again = encode(pdu, header.sequence_number, header.command_status)
    assert decode(again) == (header._replace(command_length=len(again)), pdu)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    decodes_or_pdu_error(data)


@FUZZ
@given(
    command_id=st.sampled_from(list(CommandId)) | st.integers(0, 0xFFFFFFFF),
    status=st.integers(0, 0xFFFFFFFF),
    sequence=st.integers(0, 0xFFFFFFFF),
    body=st.binary(max_size=300),
)
def test_valid_header_random_body(command_id: int, status: int, sequence: int, body: bytes) -> None:
    decodes_or_pdu_error(struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame of any PDU, then octets overwritten, inserted or cut off."""
    pdu = draw(st.sampled_from(get_args(Pdu)).flatmap(pdus))
    wire = bytearray(encode(pdu, draw(st.integers(0, 0xFFFFFFFF))))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(wire)))
        action = draw(st.sampled_from(["overwrite", "insert", "truncate"]))
        if action == "overwrite" and pos < len(wire):
            wire[pos] = draw(st.integers(0, 0xFF))
        elif action == "insert":
            wire[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        else:
            del wire[pos:]
    if draw(st.booleans()):
        wire[:4] = struct.pack(">I", len(wire))  # keep the length right, to reach the body
    return bytes(wire)


@FUZZ
@given(mutated_frames())
def test_mutated_frames(data: bytes) -> None:
    decodes_or_pdu_error(data)


@FUZZ
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_frame_reader_random_chunks(chunks: list[bytes]) -> None:
    reader = FrameReader()
    try:
        for chunk in chunks:
            for frame in reader.feed(chunk):
                assert 16 <= len(frame) == struct.unpack_from(">I", frame)[0]
                decodes_or_pdu_error(frame)
    except PduError as error:
        assert error.sequence_number is not None


RECEIPT_WORDS = ["id:", "ID:", "stat:", "DELIVRD", "UNDELIV", "submit date:", "done_date:"]
RECEIPT_WORDS += ["2403151231", "999999999999", "err:", "text:", " ", "\x00", "ff", "x:"]


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(st.sampled_from(RECEIPT_WORDS) | st.text(max_size=5)).map("".join),
    data_coding=st.integers(0, 0xFF),
    state=st.none() | st.integers(0, 0xFF),
    tlv_id=st.none() | st.text(max_size=70),
)
def test_receipts(text: str, data_coding: int, state: int | None, tlv_id: str | None) -> None:
    message = text.encode("utf-16-be" if data_coding == 8 else "utf-8")
    with contextlib.suppress(ReceiptError):
        report = delivery_report(
            "c",
            message,
            data_coding,
            received_at=datetime(2024, 1, 1, tzinfo=UTC),
            receipted_message_id=tlv_id,
            message_state=state,
        )
        assert report is None or (report.connector == "c" and report.smsc_id), report


@FUZZ
@given(st.binary(max_size=160))
def test_udh(data: bytes) -> None:
    try:
        udh, _ = split_udh(data)
        find_concat(udh)
    except UdhError:
        pass


@FUZZ
@given(
    short_message=st.binary(max_size=160),
    data_coding=st.integers(0, 0xFF),
    udh_length=st.integers(0, 160),
    gsm_packed=st.booleans(),
)
def test_incoming_text(
    short_message: bytes, data_coding: int, udh_length: int, gsm_packed: bool
) -> None:
    body = message_body(short_message, data_coding, udh_length=udh_length, gsm_packed=gsm_packed)
    with contextlib.suppress(TextError):
        decode_body(body, data_coding)
