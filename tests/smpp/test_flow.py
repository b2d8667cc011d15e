"""The codec pieces used together, the way the session will: wire in, text and reports out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsgate.delivery.connector import Encoding, ReportStatus
from smsgate.delivery.smpp.pdu import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_TYPE_MASK,
    ESM_CLASS_UDHI,
    REGISTERED_DELIVERY_FINAL,
    DeliverSm,
    FrameReader,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    decode,
    encode,
)
from smsgate.delivery.smpp.receipt import delivery_report, normalize_message_id
from smsgate.delivery.smpp.text import decode_body, encode_text, message_body
from smsgate.delivery.smpp.udh import Concat, concat_udh, find_concat, split_udh


@pytest.mark.parametrize(
    ("parts", "encoding", "gsm_packed"),
    [
        (["Hello [world], ", "this is € ", "three parts\r"], Encoding.GSM7, False),
        (["Hello [world], ", "this is € ", "three parts"], Encoding.GSM7, True),
        (["Привет, ", "мир ", "😀!"], Encoding.UCS2, False),
    ],
)
def test_concatenated_message_over_the_wire(
    parts: list[str], encoding: Encoding, gsm_packed: bool
) -> None:
    stream = b""
    for seqnum, text in enumerate(parts, start=1):
        udh = concat_udh(Concat(0x2A, len(parts), seqnum))
        data_coding, short_message = encode_text(text, encoding, udh=udh, gsm_packed=gsm_packed)
        submit = SubmitSm(
            source_addr="79161234567",
            destination_addr="1234",
            esm_class=ESM_CLASS_UDHI,
            registered_delivery=REGISTERED_DELIVERY_FINAL,
            data_coding=data_coding,
            short_message=short_message,
        )
        stream += encode(submit, seqnum)

    # the SMSC hands the parts over in reverse, one octet at a time
    reader = FrameReader()
    frames = [f for i in range(len(stream)) for f in reader.feed(stream[i : i + 1])]
    assert len(frames) == len(parts)
    bodies: dict[int, bytes] = {}
    for frame in reversed(frames):
        _, pdu = decode(frame)
        assert isinstance(pdu, SubmitSm) and pdu.esm_class & ESM_CLASS_UDHI
        udh, _ = split_udh(pdu.short_message)
        concat = find_concat(udh)
        assert concat is not None
        body = message_body(
            pdu.short_message, pdu.data_coding, udh_length=len(udh), gsm_packed=gsm_packed
        )
        assert (concat.reference, concat.total) == (0x2A, len(parts))
        bodies[concat.seqnum] = body
    assert isinstance(pdu, SubmitSm)  # the last part read, as checked in the loop
    # Joined as inbound/fragments joins them: the octets in part order, then decoded.
    text = decode_body(b"".join(bodies[n] for n in sorted(bodies)), pdu.data_coding)
    assert text == "".join(parts)


@pytest.mark.parametrize(
    ("resp_id", "receipt_text", "tlv_id"),
    [
        ("0A1B2C3D", "id:169552957 stat:DELIVRD err:000", None),  # hex answer, decimal receipt
        ("169552957", "id:a1b2c3d stat:DELIVRD err:000", None),  # decimal answer, hex receipt
        ("0A1B2C3D", "id:169552957 stat:DELIVRD err:000", "0a1b2c3d"),  # TLV as answered
    ],
)
def test_receipt_finds_its_submit(resp_id: str, receipt_text: str, tlv_id: str | None) -> None:
    _, resp = decode(encode(SubmitSmResp(message_id=resp_id), 5))
    assert isinstance(resp, SubmitSmResp)
    smsc_id = normalize_message_id(resp.message_id)  # what the store keeps for the part

    receipt = DeliverSm(
        source_addr="79161234567",
        esm_class=ESM_CLASS_DELIVERY_RECEIPT,
        short_message=receipt_text.encode(),
        tlvs=Tlvs(receipted_message_id=tlv_id),
    )
    _, pdu = decode(encode(receipt, 77))
    assert isinstance(pdu, DeliverSm)
    assert pdu.esm_class & ESM_CLASS_TYPE_MASK == ESM_CLASS_DELIVERY_RECEIPT
    report = delivery_report(
        "smsc1",
        pdu.short_message,
        pdu.data_coding,
        received_at=datetime(2024, 1, 1, tzinfo=UTC),
        receipted_message_id=pdu.tlvs.receipted_message_id,
        message_state=pdu.tlvs.message_state,
    )
    assert report is not None
    assert (report.smsc_id, report.status) == (smsc_id, ReportStatus.DELIVERED)
