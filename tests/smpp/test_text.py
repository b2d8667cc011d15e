"""SMS text codings: GSM 03.38 (unpacked and packed, with UDH fill bits) and UCS-2."""

from __future__ import annotations

import gsm0338  # noqa: F401  -- registers the "gsm03.38" codec used as a reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.delivery.connector import Encoding
from smsgate.delivery.smpp.text import (
    DataCoding,
    TextError,
    decode_body,
    encode_text,
    gsm_decode,
    gsm_encode,
    message_body,
    pack_septets,
    unpack_septets,
)
from smsgate.delivery.smpp.udh import Concat, concat_udh

BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"  # noqa: E501
EXTENSION = "\f^{}\\[~]|€"
gsm_texts = st.text(st.sampled_from(BASIC + EXTENSION), max_size=200)
septet_strings = st.binary(max_size=300).map(lambda b: bytes(x & 0x7F for x in b))


def test_reference_alphabet_is_complete() -> None:
    assert len(set(BASIC)) == len(BASIC) == 127  # 128 codes, less 0x1B (ESC)


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("@£$", "000102"),
        ("Hello", "48656c6c6f"),
        ("_§¿à", "115f607f"),
        ("€", "1b65"),
        ("[x]", "1b3c781b3e"),
        ("{}^|~\\\f", "1b281b291b141b401b3d1b2f1b0a"),
    ],
)
def test_gsm_vectors(text: str, septets: str) -> None:
    assert gsm_encode(text) == bytes.fromhex(septets)
    assert gsm_decode(bytes.fromhex(septets)) == text


@settings(deadline=None)
@given(gsm_texts)
def test_gsm_round_trip_and_agreement_with_gsm0338(text: str) -> None:
    septets = gsm_encode(text)
    assert septets == text.encode("gsm03.38")
    assert gsm_decode(septets) == text


@pytest.mark.parametrize("text", ["Жук", "ç", "`", "a\x00b", "\x1b", "😀", "\t"])
def test_not_gsm(text: str) -> None:
    with pytest.raises(TextError):
        gsm_encode(text)


@pytest.mark.parametrize(
    ("septets", "text"),
    [
        ("1b41", "A"),  # escape to a code the extension lacks: the basic character
        ("1b1b41", " A"),  # ESC ESC is reserved: a space
        ("411b", "A"),  # dangling escape at the end
        ("41ff42", "A\ufffdB"),  # not a septet
        ("1bff", "\ufffd"),
    ],
)
def test_gsm_decode_tolerates_odd_input(septets: str, text: str) -> None:
    assert gsm_decode(bytes.fromhex(septets)) == text


# --- 7-bit packing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fill_bits", "packed"),
    [
        ("hellohello", 0, "e8329bfd4697d9ec37"),  # the classic 23.038 example
        ("Hi", 0, "c834"),
        ("Hi", 1, "9069"),  # after a 6-octet UDH
        ("1234567", 0, "31d98c56b3dd1a"),  # 7 spare bits filled with CR (0x0D)
        ("", 0, ""),
        ("", 1, "1a"),  # a 6-octet UDH and no text: the spare bits are CR again
    ],
)
def test_packing_vectors(text: str, fill_bits: int, packed: str) -> None:
    assert pack_septets(gsm_encode(text), fill_bits) == bytes.fromhex(packed)
    assert gsm_decode(unpack_septets(bytes.fromhex(packed), fill_bits)) == text


@settings(deadline=None)
@given(septet_strings, st.integers(0, 6))
def test_packing_round_trip(septets: bytes, fill_bits: int) -> None:
    packed = pack_septets(septets, fill_bits)
    unpacked = unpack_septets(packed, fill_bits)
    ends_on_boundary = (fill_bits + 7 * len(septets)) % 8 == 0
    if septets.endswith(b"\r") and ends_on_boundary:
        assert unpacked == septets + b"\r"  # 23.038: a second CR, shown as one line feed
    else:
        assert unpacked == septets


@pytest.mark.parametrize(("text", "udh"), [("a" * 159 + "\r", b""), ("a" * 152 + "\r", True)])
def test_a_full_packed_part_ending_in_cr_keeps_to_140_octets(text: str, udh: object) -> None:
    # A CR ending on an octet boundary gets a second one, except in a full part: there is no
    # room for it (160 septets, or 153 after a UDH), and a 141st octet breaks the SMS.
    header = concat_udh(Concat(7, 2, 1)) if udh else b""
    _, short_message = encode_text(text, Encoding.GSM7, udh=header, gsm_packed=True)
    assert len(short_message) == 140
    # A full part's last CR reads as the fill a shorter text would have: it is whitespace.
    assert message_body(short_message, 0, udh_length=len(header), gsm_packed=True) == (
        gsm_encode(text[:-1])
    )
    # Room to spare: the second CR is written, as 23.038 asks.
    assert len(pack_septets(gsm_encode("a" * 7 + "\r"))) == 8


def test_packing_rejects_octets() -> None:
    with pytest.raises(TextError):
        pack_septets(b"\x80")


def test_fill_bits_come_first_and_are_zero() -> None:
    for fill_bits in range(7):
        packed = pack_septets(b"\x7f", fill_bits)
        assert int.from_bytes(packed, "little") & ((1 << fill_bits) - 1) == 0
        assert (int.from_bytes(packed, "little") >> fill_bits) & 0x7F == 0x7F


# --- whole parts ------------------------------------------------------------------------------

UDH_6 = bytes.fromhex("050003a70201")  # 8-bit reference: 48 bits, 1 fill bit
UDH_7 = bytes.fromhex("06 08 04 0102 03 01")  # 16-bit reference: 56 bits, none


@pytest.mark.parametrize("udh", [b"", UDH_6, UDH_7, bytes.fromhex("0b0504 0b840000 00030f0201")])
@pytest.mark.parametrize("gsm_packed", [False, True])
@settings(deadline=None, max_examples=50)
@given(text=gsm_texts)
def test_gsm_part_round_trip(udh: bytes, gsm_packed: bool, text: str) -> None:
    data_coding, short_message = encode_text(text, Encoding.GSM7, udh=udh, gsm_packed=gsm_packed)
    assert data_coding == DataCoding.SMSC_DEFAULT and short_message.startswith(udh)
    body = message_body(short_message, data_coding, udh_length=len(udh), gsm_packed=gsm_packed)
    decoded = decode_body(body, data_coding)
    fill_bits = -8 * len(udh) % 7
    if gsm_packed and text.endswith("\r") and (fill_bits + 7 * len(gsm_encode(text))) % 8 == 0:
        assert decoded == text + "\r"
    else:
        assert decoded == text


def test_packed_part_with_udh_hand_vector() -> None:
    _, short_message = encode_text("Hi", Encoding.GSM7, udh=UDH_6, gsm_packed=True)
    # 1 fill bit, then 'H' (0x48) and 'i' (0x69) LSB first: 0x48 << 1 = 0x90, then 0x69
    assert short_message == UDH_6 + bytes.fromhex("9069")


@settings(deadline=None)
@given(st.text(max_size=70).filter(lambda t: not any(0xD800 <= ord(c) < 0xE000 for c in t)))
def test_ucs2_round_trip(text: str) -> None:
    data_coding, short_message = encode_text(text, Encoding.UCS2, udh=UDH_6)
    assert data_coding == DataCoding.UCS2
    assert decode_body(message_body(short_message, data_coding, udh_length=6), data_coding) == text


def test_ucs2_surrogate_pairs() -> None:
    _, short_message = encode_text("a😀", Encoding.UCS2)
    assert short_message == bytes.fromhex("0061 d83d de00")
    assert decode_body(short_message, DataCoding.UCS2) == "a😀"


def test_surrogate_pair_split_across_parts_joins() -> None:
    """The reason for message_body: parts are joined as octets, then decoded."""
    _, whole = encode_text("x😀y", Encoding.UCS2)
    first, second = whole[:4], whole[4:]  # cut between the two halves of the pair
    assert decode_body(first, DataCoding.UCS2) == "x\ufffd"
    assert decode_body(first + second, DataCoding.UCS2) == "x😀y"


@pytest.mark.parametrize(
    ("octets", "text"),
    [
        ("0041 00", "A"),  # odd trailing octet
        ("d83d 0041", "\ufffdA"),  # lone high surrogate
        ("de00", "\ufffd"),
        ("", ""),
    ],
)
def test_ucs2_tolerance(octets: str, text: str) -> None:
    assert decode_body(bytes.fromhex(octets), DataCoding.UCS2) == text


def test_ucs2_rejects_lone_surrogate_text() -> None:
    with pytest.raises(TextError):
        encode_text("\ud83d", Encoding.UCS2)


@pytest.mark.parametrize(
    ("data_coding", "octets", "text"),
    [
        (0x01, b"Hi_@", "Hi_@"),  # IA5
        (0x01, b"caf\xe9", "caf\ufffd"),
        (0x03, b"caf\xe9 \xa4", "café ¤"),  # Latin-1
        (0x00, b"Hi\x11", "Hi_"),  # GSM
        (0xF0, b"Hi\x11", "Hi_"),  # GSM, message class 0 (flash)
        (0xF1, b"\x00", "@"),
        (0xD0, b"\x00", "@"),  # message waiting, store, GSM
        (0xE0, b"\x00A", "A"),  # message waiting, store, UCS-2
        (0x06, b"\xbf\xe0\xd8\xd2\xd5\xe2", "Привет"),  # ISO-8859-5
        (0x07, b"\xf9\xec\xe5\xed", "שלום"),  # ISO-8859-8
        (0x0E, "안녕".encode("euc_kr"), "안녕"),  # KS C 5601
        (0x11, b"Hi\x11", "Hi_"),  # GSM general data coding, class 1
        (0x18, "Привет".encode("utf-16-be"), "Привет"),  # UCS-2, class 0 (flash)
        (0x19, b"\x00A", "A"),
        (0x48, b"\x00A", "A"),  # UCS-2, marked for automatic deletion
    ],
)
def test_incoming_codings(data_coding: int, octets: bytes, text: str) -> None:
    assert decode_body(octets, data_coding) == text


# 8-bit data, JIS (0x05, unsupported), compressed (0x20+), reserved groups and alphabets
@pytest.mark.parametrize(
    "data_coding", [0x02, 0x04, 0x05, 0xF4, 0xF7, 0x09, 0x14, 0x1C, 0x30, 0x80, 0xBF]
)
def test_binary_codings_are_not_text(data_coding: int) -> None:
    with pytest.raises(TextError):
        decode_body(b"\x01\x02", data_coding)


def test_packed_flag_only_affects_gsm() -> None:
    body = message_body(UDH_6 + b"\x00A", DataCoding.UCS2, udh_length=6, gsm_packed=True)
    assert body == b"\x00A"
