"""PDU codec: hand-made byte vectors, round trips, malformed frames and the frame splitter."""

from __future__ import annotations

import dataclasses
import itertools
import struct
from collections.abc import Callable
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.delivery.smpp.pdu import (
    MAX_COMMAND_LENGTH,
    NO_TLVS,
    RESPONSE_BIT,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    FrameReader,
    GenericNack,
    Header,
    Pdu,
    PduError,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    Unbind,
    UnbindResp,
    decode,
    encode,
)

from .strategies import CSTRING_MAX, DATA_SM_CSTRING_MAX, pdus

S = CommandStatus
ALL_PDUS: tuple[type[Pdu], ...] = get_args(Pdu)


def frame(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def header(length: int, command_id: int, status: int = 0, sequence: int = 1) -> bytes:
    return struct.pack(">IIII", length, command_id, status, sequence)


# --- byte vectors written out from the SMPP 3.4 layouts ---------------------------------------

VECTORS: list[tuple[str, int, int, Pdu, str]] = [
    ("enquire_link", 1, 0, EnquireLink(), "00000010 00000015 00000000 00000001"),
    ("enquire_link_resp", 1, 0, EnquireLinkResp(), "00000010 80000015 00000000 00000001"),
    ("unbind", 3, 0, Unbind(), "00000010 00000006 00000000 00000003"),
    ("unbind_resp", 3, 0, UnbindResp(), "00000010 80000006 00000000 00000003"),
    ("generic_nack", 9, S.ESME_RINVCMDID, GenericNack(), "00000010 80000000 00000003 00000009"),
    (
        "bind_transmitter",
        1,
        0,
        BindTransmitter(system_id="smppclient1", password="password"),
        "0000002a 00000002 00000000 00000001"
        " 736d7070636c69656e743100"  # system_id
        " 70617373776f726400"  # password
        " 00"  # system_type
        " 34 00 00"  # interface_version, addr_ton, addr_npi
        " 00",  # address_range
    ),
    (
        "bind_transceiver_resp",
        1,
        0,
        BindTransceiverResp(system_id="SMSC", tlvs=Tlvs(unknown=((0x0210, b"\x34"),))),
        "0000001a 80000009 00000000 00000001 534d534300 0210 0001 34",
    ),
    (
        "submit_sm",
        2,
        0,
        SubmitSm(
            source_addr_ton=5,
            source_addr="SMSGATE",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="79161234567",
            registered_delivery=1,
            short_message=b"Hi",
        ),
        "00000035 00000004 00000000 00000002"
        " 00"  # service_type
        " 05 00 534d534741544500"  # source
        " 01 01 373931363132333435363700"  # destination
        " 00 00 00"  # esm_class, protocol_id, priority_flag
        " 00 00"  # schedule_delivery_time, validity_period
        " 01 00 00 00"  # registered_delivery, replace, data_coding, sm_default_msg_id
        " 02 4869",  # sm_length, short_message
    ),
    (
        "submit_sm_resp",
        2,
        0,
        SubmitSmResp(message_id="abc123"),
        "00000017 80000004 00000000 00000002 61626331323300",
    ),
    (
        "deliver_sm receipt",
        7,
        0,
        DeliverSm(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="79161234567",
            dest_addr_ton=5,
            destination_addr="SMSGATE",
            esm_class=0x04,
            short_message=b"id:abc123 stat:DELIVRD",
            tlvs=Tlvs(receipted_message_id="abc123", message_state=2),
        ),
        "00000059 00000005 00000000 00000007"
        " 00 01 01 373931363132333435363700 05 00 534d534741544500"
        " 04 00 00 00 00 00 00 00 00"
        " 16 69643a6162633132332073746174 3a44454c49565244"  # "id:abc123 stat:DELIVRD"
        " 001e 0007 61626331323300"  # receipted_message_id
        " 0427 0001 02",  # message_state
    ),
    ("deliver_sm_resp", 7, 0, DeliverSmResp(), "00000011 80000005 00000000 00000007 00"),
    (
        "data_sm",
        4,
        0,
        DataSm(source_addr="1", destination_addr="2", tlvs=Tlvs(message_payload=b"hi")),
        "00000022 00000103 00000000 00000004 00 00 00 3100 00 00 3200 00 00 00 0424 0002 6869",
    ),
    (
        "data_sm_resp",
        4,
        S.ESME_RDELIVERYFAILURE,
        DataSmResp(message_id="9"),
        "00000012 80000103 000000fe 00000004 3900",
    ),
]


VECTOR_PARAMS = [pytest.param(*v[1:], id=v[0]) for v in VECTORS]


@pytest.mark.parametrize(("sequence", "status", "pdu", "wire"), VECTOR_PARAMS)
def test_vector_encodes(sequence: int, status: int, pdu: Pdu, wire: str) -> None:
    assert encode(pdu, sequence, status) == frame(wire)


@pytest.mark.parametrize(("sequence", "status", "pdu", "wire"), VECTOR_PARAMS)
def test_vector_decodes(sequence: int, status: int, pdu: Pdu, wire: str) -> None:
    data = frame(wire)
    assert decode(data) == (Header(len(data), pdu.command_id, status, sequence), pdu)


SPEC_COMMAND_IDS = {
    BindReceiver: 0x00000001,
    BindReceiverResp: 0x80000001,
    BindTransmitter: 0x00000002,
    BindTransmitterResp: 0x80000002,
    SubmitSm: 0x00000004,
    SubmitSmResp: 0x80000004,
    DeliverSm: 0x00000005,
    DeliverSmResp: 0x80000005,
    Unbind: 0x00000006,
    UnbindResp: 0x80000006,
    BindTransceiver: 0x00000009,
    BindTransceiverResp: 0x80000009,
    EnquireLink: 0x00000015,
    EnquireLinkResp: 0x80000015,
    DataSm: 0x00000103,
    DataSmResp: 0x80000103,
    GenericNack: 0x80000000,
}


def test_command_ids_match_the_spec() -> None:
    assert {cls: cls.command_id for cls in ALL_PDUS} == SPEC_COMMAND_IDS


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("pdu_class", ALL_PDUS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), sequence=st.integers(0, 0xFFFFFFFF), status=st.integers(0, 0xFFFFFFFF))
def test_round_trip(pdu_class: type[Pdu], data: st.DataObject, sequence: int, status: int) -> None:
    pdu = data.draw(pdus(pdu_class))
    wire = encode(pdu, sequence, status)
    assert decode(wire) == (Header(len(wire), pdu_class.command_id, status, sequence), pdu)


@pytest.mark.parametrize("pdu_class", ALL_PDUS, ids=lambda c: c.__name__)
def test_bare_header(pdu_class: type[Pdu]) -> None:
    """Responses and header-only PDUs accept a bare header; requests with a body do not."""
    bare = header(16, pdu_class.command_id, S.ESME_RTHROTTLED, 5)
    if pdu_class.command_id & 0x80000000 or not dataclasses.fields(pdu_class):
        assert decode(bare)[1] == pdu_class()
    else:
        with pytest.raises(PduError) as caught:
            decode(bare)
        assert caught.value.status == S.ESME_RINVCMDLEN
        assert caught.value.sequence_number == 5


def test_unknown_tlvs_are_kept_in_order() -> None:
    tlvs = Tlvs(unknown=((0x1403, b"vendor"), (0x0423, b"\x03\x00\x22"), (0x1403, b"")))
    pdu = decode(encode(SubmitSmResp(message_id="1", tlvs=tlvs), 1))[1]
    assert isinstance(pdu, SubmitSmResp)
    assert pdu.tlvs == tlvs


def test_repeated_known_tlv_keeps_the_first_and_the_rest_raw() -> None:
    body = frame("3100 0427 0001 02 0427 0001 05")
    pdu = decode(header(16 + len(body), CommandId.DATA_SM_RESP) + body)[1]
    assert pdu == DataSmResp(message_id="1", tlvs=Tlvs(message_state=2, unknown=((0x0427, b"\5"),)))


@pytest.mark.parametrize(
    ("raw", "value"),
    [("61626300", "abc"), ("616263", "abc"), ("6162630000", "abc"), ("00", ""), ("", "")],
)
def test_receipted_message_id_tolerates_a_missing_nul(raw: str, value: str) -> None:
    tlv = f"001e {len(raw) // 2:04x} {raw}"
    body = frame("00 " + tlv)
    pdu = decode(header(16 + len(body), CommandId.DELIVER_SM_RESP) + body)[1]
    assert pdu == DeliverSmResp(tlvs=Tlvs(receipted_message_id=value))


def test_pdus_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SubmitSm().source_addr = "x"  # type: ignore[misc]


# --- malformed frames: PduError with the status to answer ------------------------------------


def is_response(pdu_class: type[Pdu]) -> bool:
    return bool(pdu_class.command_id & RESPONSE_BIT)


def decode_error(data: bytes) -> PduError:
    with pytest.raises(PduError) as caught:
        decode(data)
    return caught.value


SUBMIT_SM = frame(next(v[4] for v in VECTORS if v[0] == "submit_sm"))


@pytest.mark.parametrize("size", [0, 1, 15])
def test_truncated_header(size: int) -> None:
    error = decode_error(SUBMIT_SM[:size])
    assert (error.status, error.sequence_number, error.command_id) == (
        S.ESME_RINVCMDLEN,
        None,
        None,
    )


@pytest.mark.parametrize("delta", [-1, 1, 1000])
def test_command_length_mismatch(delta: int) -> None:
    data = struct.pack(">I", len(SUBMIT_SM) + delta) + SUBMIT_SM[4:]
    error = decode_error(data)
    assert (error.status, error.command_id, error.sequence_number) == (S.ESME_RINVCMDLEN, 4, 2)


def test_frame_cut_short() -> None:
    error = decode_error(SUBMIT_SM[:-1])
    assert (error.status, error.sequence_number) == (S.ESME_RINVCMDLEN, 2)


@pytest.mark.parametrize("command_id", [0x00000003, 0x0000000B, 0x00000102, 0x12345678, 0x80000021])
def test_unknown_command_id(command_id: int) -> None:
    error = decode_error(header(16, command_id, 0, 77))
    assert (error.status, error.command_id, error.sequence_number) == (
        S.ESME_RINVCMDID,
        command_id,
        77,
    )


CSTRING_STATUS = {
    "system_id": S.ESME_RINVSYSID,
    "password": S.ESME_RINVPASWD,
    "system_type": S.ESME_RINVSYSTYP,
    "address_range": S.ESME_RINVPARLEN,
    "service_type": S.ESME_RINVSERTYP,
    "source_addr": S.ESME_RINVSRCADR,
    "destination_addr": S.ESME_RINVDSTADR,
    "schedule_delivery_time": S.ESME_RINVSCHED,
    "validity_period": S.ESME_RINVEXPIRY,
    "message_id": S.ESME_RINVMSGID,
}
CSTRING_FIELDS = [
    (pdu_class, f.name)
    for pdu_class in ALL_PDUS
    for f in dataclasses.fields(pdu_class)
    if f.type == "str"
]
# Requests are read by the rules; responses leniently (their verdict is the header's status).
REQUEST_CSTRING_FIELDS = [
    (pdu_class, name) for pdu_class, name in CSTRING_FIELDS if not is_response(pdu_class)
]
RESPONSE_CSTRING_FIELDS = [
    (pdu_class, name) for pdu_class, name in CSTRING_FIELDS if is_response(pdu_class)
]


def with_cstring(pdu_class: type[Pdu], name: str, value: str) -> Pdu:
    """An instance with the C-string field ``name`` set to ``value``, the others left default.

    ``name`` is known only at run time, so no type can say it names a ``str`` field: the class
    is called through its plain constructor type, and ``CSTRING_FIELDS`` vouches for the name."""
    constructor: Callable[..., Pdu] = pdu_class
    return constructor(**{name: value})


def limit(pdu_class: type[Pdu], name: str) -> int:
    return (DATA_SM_CSTRING_MAX if pdu_class is DataSm else CSTRING_MAX)[name]


def longest(pdu_class: type[Pdu], name: str) -> Pdu:
    """An instance with field ``name`` at its maximum and the other strings set, so they differ."""
    values: dict[str, Any] = {f.name: "s" for f in dataclasses.fields(pdu_class) if f.type == "str"}
    return pdu_class(**values | {name: "x" * (limit(pdu_class, name) - 1)})


@pytest.mark.parametrize(("pdu_class", "name"), REQUEST_CSTRING_FIELDS, ids=str)
def test_cstring_without_nul_in_its_max_length(pdu_class: type[Pdu], name: str) -> None:
    wire = encode(longest(pdu_class, name), 11)
    nul = wire.index(b"x" * (limit(pdu_class, name) - 1) + b"\0") + limit(pdu_class, name) - 1
    broken = wire[:nul] + b"x" + wire[nul + 1 :]
    error = decode_error(broken)
    assert (error.status, error.command_id, error.sequence_number) == (
        CSTRING_STATUS[name],
        pdu_class.command_id,
        11,
    )


@pytest.mark.parametrize(("pdu_class", "name"), REQUEST_CSTRING_FIELDS, ids=str)
def test_body_ending_inside_a_cstring(pdu_class: type[Pdu], name: str) -> None:
    wire = encode(longest(pdu_class, name), 12)
    cut = wire.index(b"x" * (limit(pdu_class, name) - 1)) + 2
    error = decode_error(struct.pack(">I", cut) + wire[4:cut])
    assert (error.status, error.sequence_number) == (S.ESME_RINVCMDLEN, 12)


def with_body(pdu_class: type[Pdu], status: int, body: bytes) -> bytes:
    return header(16 + len(body), pdu_class.command_id, status, 13) + body


@pytest.mark.parametrize(("pdu_class", "name"), RESPONSE_CSTRING_FIELDS, ids=str)
@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b"12345", "12345"),  # no NUL
        (b"12345\0\0", "12345"),  # NUL padding
        (b"ab\0\x04\x24\x00", "ab"),  # a broken TLV after the string
        (b"x" * 80, "x" * 80),  # too long: cut to the field's size
    ],
    ids=["no-nul", "padding", "broken-tlv", "too-long"],
)
def test_a_malformed_response_body_keeps_the_header_verdict(
    pdu_class: type[Pdu], name: str, body: bytes, value: str
) -> None:
    status = S.ESME_RINVDSTADR
    head, pdu = decode(with_body(pdu_class, status, body))
    assert (head.command_status, head.sequence_number) == (status, 13)
    expected = value[: limit(pdu_class, name) - 1]
    assert pdu == pdu_class(**{name: expected})  # type: ignore[arg-type]


def submit_sm_body(sm_length: int, message: bytes, tail: bytes = b"") -> bytes:
    body = frame("00 0000 3100 0000 3200 000000 00 00 00000000") + bytes([sm_length]) + message
    return header(16 + len(body) + len(tail), CommandId.SUBMIT_SM, 0, 21) + body + tail


@pytest.mark.parametrize(
    ("sm_length", "message"),
    [(3, b"ab"), (200, b"x" * 199), (255, b"y" * 255), (1, b"")],
)
def test_sm_length_overflow(sm_length: int, message: bytes) -> None:
    error = decode_error(submit_sm_body(sm_length, message))
    assert (error.status, error.sequence_number) == (S.ESME_RINVMSGLEN, 21)


def test_short_message_then_tlvs() -> None:
    assert decode(submit_sm_body(2, b"ab", frame("0204 0002 0007")))[1] == SubmitSm(
        source_addr="1",
        destination_addr="2",
        short_message=b"ab",
        tlvs=Tlvs(user_message_reference=7),
    )


@pytest.mark.parametrize("cut", [1, 3, 17, 18])
def test_body_ending_in_the_fixed_fields(cut: int) -> None:
    wire = encode(SubmitSm(source_addr="1", destination_addr="2"), 8)
    error = decode_error(struct.pack(">I", 16 + cut) + wire[4 : 16 + cut])
    assert (error.status, error.sequence_number) == (S.ESME_RINVCMDLEN, 8)


def deliver_sm_with(tail: str) -> bytes:
    """A deliver_sm frame with ``tail`` (hex) after its short_message."""
    wire = encode(DeliverSm(source_addr="1", short_message=b"id:1 stat:DELIVRD"), 31)
    extra = frame(tail)
    return struct.pack(">I", len(wire) + len(extra)) + wire[4:] + extra


@pytest.mark.parametrize(
    "tlv",
    [
        "0424 0005 6869",  # value longer than what is left
        "0424 ffff",  # length and nothing after
        "04",  # stray octet
        "0424 00",  # half a TLV header
        "0204 0002 0007 1e",  # a good TLV, then a stray octet
    ],
)
def test_tlv_overflow(tlv: str) -> None:
    error = decode_error(deliver_sm_with(tlv))
    assert (error.status, error.sequence_number) == (S.ESME_RINVOPTPARSTREAM, 31)


@pytest.mark.parametrize("padding", ["00", "0000 00", "0000 0000 00", "0204 0002 0007 00"])
def test_nul_padding_after_the_body_is_ignored(padding: str) -> None:
    _, pdu = decode(deliver_sm_with(padding))
    assert isinstance(pdu, DeliverSm)
    assert pdu.short_message == b"id:1 stat:DELIVRD"
    assert pdu.tlvs.unknown == ()


@pytest.mark.parametrize(
    "tlv",
    [
        "0427 0002 0002",  # message_state is one octet
        "0427 0000",
        "020c 0001 01",  # sar_msg_ref_num is two
        "020e 0002 0001",
        "0204 0004 00000001",  # user_message_reference is two
        "001e 0041" + "61" * 65,  # receipted_message_id holds at most 64 characters
    ],
)
def test_a_known_tlv_with_a_wrong_length_is_kept_raw(tlv: str) -> None:
    raw = frame(tlv)
    _, pdu = decode(deliver_sm_with(tlv))
    assert isinstance(pdu, DeliverSm)
    tag, length = struct.unpack_from(">HH", raw)
    assert pdu.tlvs == Tlvs(unknown=((tag, raw[4 : 4 + length]),))


@pytest.mark.parametrize("pdu_class", [EnquireLink, Unbind])
def test_header_only_request_with_a_body(pdu_class: type[Pdu]) -> None:
    error = decode_error(header(17, pdu_class.command_id, 0, 4) + b"\1")
    assert (error.status, error.sequence_number) == (S.ESME_RINVCMDLEN, 4)


@pytest.mark.parametrize("pdu_class", [EnquireLinkResp, UnbindResp, GenericNack])
def test_header_only_response_with_a_body_keeps_its_verdict(pdu_class: type[Pdu]) -> None:
    head, pdu = decode(header(17, pdu_class.command_id, S.ESME_RSYSERR, 4) + b"\1")
    assert (head.command_status, pdu) == (S.ESME_RSYSERR, pdu_class())


def test_stray_octet_after_a_bind() -> None:
    wire = encode(BindTransmitter(system_id="a"), 1)
    error = decode_error(struct.pack(">I", len(wire) + 1) + wire[4:] + b"\x01")
    assert error.status == S.ESME_RINVOPTPARSTREAM


# --- encoding errors --------------------------------------------------------------------------


def encode_error(pdu: Pdu, sequence: int = 99, status: int = 0) -> PduError:
    with pytest.raises(PduError) as caught:
        encode(pdu, sequence, status)
    return caught.value


@pytest.mark.parametrize(("pdu_class", "name"), CSTRING_FIELDS, ids=str)
def test_cstring_limits_on_encode(pdu_class: type[Pdu], name: str) -> None:
    size = limit(pdu_class, name)
    assert decode(encode(with_cstring(pdu_class, name, "x" * (size - 1)), 1))[1] == with_cstring(
        pdu_class, name, "x" * (size - 1)
    )
    for bad in ("x" * size, "a\0b", "Ж"):
        error = encode_error(with_cstring(pdu_class, name, bad))
        assert (error.status, error.command_id, error.sequence_number) == (
            CSTRING_STATUS[name],
            pdu_class.command_id,
            99,
        )
        assert name in str(error)


@pytest.mark.parametrize("value", [256, -1, 0x110000])
def test_octet_out_of_range(value: int) -> None:
    error = encode_error(SubmitSm(priority_flag=value))
    assert error.status == S.ESME_RSYSERR
    assert f"priority_flag={value}" in str(error)


def test_short_message_too_long() -> None:
    assert encode(SubmitSm(short_message=b"x" * 254), 1)
    assert encode_error(SubmitSm(short_message=b"x" * 255)).status == S.ESME_RINVMSGLEN


@pytest.mark.parametrize(
    ("tlvs", "status"),
    [
        (Tlvs(message_state=256), S.ESME_RINVOPTPARAMVAL),
        (Tlvs(sar_msg_ref_num=0x10000), S.ESME_RINVOPTPARAMVAL),
        (Tlvs(receipted_message_id="x" * 65), S.ESME_RINVOPTPARAMVAL),
        (Tlvs(message_payload=b"x" * 0x10000), S.ESME_RINVPARLEN),
        (Tlvs(unknown=((0x10000, b""),)), S.ESME_RINVPARLEN),
    ],
)
def test_bad_tlv_values(tlvs: Tlvs, status: CommandStatus) -> None:
    assert encode_error(DataSm(tlvs=tlvs)).status == status


# An empty data_sm body is 10 octets; its message_payload TLV adds a 4-octet TLV header.
LARGEST_PAYLOAD = MAX_COMMAND_LENGTH - 16 - 10 - 4


def test_command_length_limit_on_encode() -> None:
    fits = DataSm(tlvs=Tlvs(message_payload=b"x" * LARGEST_PAYLOAD))
    assert len(encode(fits, 1)) == MAX_COMMAND_LENGTH
    too_long = DataSm(tlvs=Tlvs(message_payload=b"x" * (LARGEST_PAYLOAD + 1)))
    assert encode_error(too_long).status == S.ESME_RINVMSGLEN


@pytest.mark.parametrize(("sequence", "status"), [(-1, 0), (2**32, 0), (1, -1), (1, 2**32)])
def test_header_values_out_of_range(sequence: int, status: int) -> None:
    assert encode_error(EnquireLink(), sequence, status).status == S.ESME_RSYSERR


def test_default_tlvs_are_shared() -> None:
    assert SubmitSm().tlvs is NO_TLVS
    assert encode(SubmitSm(tlvs=Tlvs()), 1) == encode(SubmitSm(), 1)


# --- FrameReader ------------------------------------------------------------------------------

FRAMES = [
    encode(EnquireLink(), 1),
    encode(SubmitSmResp(message_id="abc"), 2),
    encode(DeliverSm(short_message=b"x" * 200, tlvs=Tlvs(message_payload=b"y" * 1000)), 3),
]
STREAM = b"".join(FRAMES)


def test_frame_reader_whole_stream() -> None:
    assert FrameReader().feed(STREAM) == FRAMES


def test_frame_reader_octet_by_octet() -> None:
    reader = FrameReader()
    frames = [f for i in range(len(STREAM)) for f in reader.feed(STREAM[i : i + 1])]
    assert frames == FRAMES


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=10))
def test_frame_reader_any_chunking(cuts: list[int]) -> None:
    reader = FrameReader()
    bounds = [0, *sorted(cuts), len(STREAM)]
    frames = [f for a, b in itertools.pairwise(bounds) for f in reader.feed(STREAM[a:b])]
    assert frames == FRAMES


@pytest.mark.parametrize("length", [0, 15, MAX_COMMAND_LENGTH + 1, 0xFFFFFFFF])
def test_frame_reader_absurd_length(length: int) -> None:
    reader = FrameReader()
    good = encode(EnquireLink(), 1)
    assert reader.feed(good + header(length, CommandId.SUBMIT_SM, 0, 66)[:10]) == [good]
    with pytest.raises(PduError) as caught:
        reader.feed(header(length, CommandId.SUBMIT_SM, 0, 66)[10:])
    error = caught.value
    assert (error.status, error.command_id, error.sequence_number) == (S.ESME_RINVCMDLEN, 4, 66)
    with pytest.raises(PduError):
        reader.feed(good)  # no resynchronising after a bad length


def test_frame_reader_largest_frame() -> None:
    wire = encode(DataSm(tlvs=Tlvs(message_payload=b"x" * LARGEST_PAYLOAD)), 1)
    assert len(wire) == MAX_COMMAND_LENGTH
    assert FrameReader().feed(wire) == [wire]
    with pytest.raises(PduError):
        FrameReader(max_length=1000).feed(wire[:16])
