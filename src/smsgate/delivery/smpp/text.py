"""SMS text to and from short_message octets, for the data codings a gateway meets.

Outgoing text is GSM 03.38 (data_coding 0: one septet per octet, or packed 7-bit for SMSCs
that want it) or UCS-2 (data_coding 8, written as UTF-16BE so that characters outside the BMP
survive as surrogate pairs). Incoming text is decoded in two steps, ``message_body`` then
``decode_body``, so the parts of a concatenated message can be joined in between: a surrogate
pair or a GSM escape split across two parts then still decodes.
"""

from __future__ import annotations

import codecs
import enum
import re
from functools import cache
from typing import Final

from smsgate.delivery.connector import Encoding
from smsgate.domain.segments import GSM_BASIC_BY_CODE, GSM_EXTENSION_BY_CODE


class DataCoding(enum.IntEnum):
    SMSC_DEFAULT = 0x00  # GSM 03.38, unless a connector says otherwise (``DefaultAlphabet``)
    IA5 = 0x01
    LATIN_1 = 0x03
    UCS2 = 0x08


class DefaultAlphabet(enum.StrEnum):
    """What an SMSC takes data_coding 0, its default alphabet, to be: GSM 03.38 as most do, or
    8-bit Latin-1 or ASCII, which it converts for the air itself (Kannel's alt-charset)."""

    GSM = "gsm"
    LATIN_1 = "latin-1"
    ASCII = "ascii"

    @property
    def data_coding(self) -> DataCoding:
        """The data_coding that names this alphabet to every SMSC."""
        return _EXPLICIT_CODING[self]


_EXPLICIT_CODING: Final = {
    DefaultAlphabet.GSM: DataCoding.SMSC_DEFAULT,
    DefaultAlphabet.LATIN_1: DataCoding.LATIN_1,
    DefaultAlphabet.ASCII: DataCoding.IA5,
}


class TextError(ValueError):
    """Text the requested coding cannot carry, or octets whose coding is not text."""


# The user data of one SMS (TP-UD), its header included.
SMS_OCTETS: Final = 140
_BASIC: Final = GSM_BASIC_BY_CODE  # 0x1B is ESC, the shift to the extension
_EXTENSION: Final = GSM_EXTENSION_BY_CODE

# codecs.charmap_build makes its fast C map only from a table that starts with U+0000, and GSM
# 0x00 is '@'; so the table is shifted by one position and the output shifted back.
_ENCODE_MAP: Final = codecs.charmap_build(
    "\0" + "".join(_BASIC[code] for code in range(128)) + "\ufffe" * 127
)
_UNSHIFT: Final = bytes([0, *range(128)]) + bytes(127)
# NUL would come out of the shifted table as '@', and a literal ESC as a shift.
_NOT_TEXT: Final = re.compile("[\x00\x1b]")
_EXTENSION_CHARS: Final = re.compile("[" + re.escape("".join(_EXTENSION.values())) + "]")
_ESCAPED_FORMS: Final = tuple((char, "\x1b" + _BASIC[code]) for code, char in _EXTENSION.items())

_DECODE_TABLE: Final = "".join(_BASIC[code] for code in range(128)) + "\ufffe" * 128
_ESCAPE: Final = re.compile("\x1b(.?)", re.DOTALL)
# 23.038 §6.2.1.1: ESC before a code the extension table lacks shows the basic character, and
# ESC ESC (reserved for a further table) shows a space.
_EXTENSION_BY_BASIC: Final = {_BASIC[code]: char for code, char in _EXTENSION.items()} | {
    "\x1b": " "
}


def gsm_encode(text: str) -> bytes:
    """``text`` as GSM 03.38 septets, one per octet (extension characters take two)."""
    if found := _NOT_TEXT.search(text):
        raise TextError(f"{found[0]!r} is not in the GSM 03.38 alphabet")
    if _EXTENSION_CHARS.search(text):
        for char, escaped in _ESCAPED_FORMS:
            text = text.replace(char, escaped)
    try:
        shifted = codecs.charmap_encode(text, "strict", _ENCODE_MAP)[0]
    except UnicodeEncodeError as exc:
        raise TextError(f"{exc.object[exc.start]!r} is not in the GSM 03.38 alphabet") from None
    return shifted.translate(_UNSHIFT)


def _unescape(match: re.Match[str]) -> str:
    return _EXTENSION_BY_BASIC.get(match[1], match[1])  # a trailing lone ESC shows nothing


def gsm_decode(septets: bytes) -> str:
    """GSM 03.38 septets, one per octet, as text; octets above 0x7F become U+FFFD."""
    text = codecs.charmap_decode(septets, "replace", _DECODE_TABLE)[0]
    if "\x1b" in text:
        text = _ESCAPE.sub(_unescape, text)
    return text


@cache
def _squeeze_steps(size: int) -> tuple[tuple[int, int, int], ...]:
    """Mask steps turning ``size`` (a power of two) septet-per-octet octets into 7-bit packing.

    Step h treats the integer as lanes of 2h octets whose halves each hold 7h bits at their
    bottom, and moves every upper half down by h bits; after log2(size) steps all septets are
    contiguous. Run in reverse, the same masks spread packed septets back out.
    """
    total_bits = size * 8
    steps = []
    half = 1
    while half < size:
        lane_bits = 16 * half
        every_lane = ((1 << total_bits) - 1) // ((1 << lane_bits) - 1)
        low = every_lane * ((1 << 7 * half) - 1)
        high = every_lane * (((1 << 8 * half) - 1) << 8 * half)
        steps.append((low, high, half))
        half *= 2
    return tuple(steps)


def _lanes(count: int) -> int:
    return 1 << max(count - 1, 0).bit_length()


def pack_septets(septets: bytes, fill_bits: int = 0, room: int | None = None) -> bytes:
    """Pack septets LSB first after ``fill_bits`` zero bits (3GPP TS 23.038 §6.1.2.1.1), in at
    most ``room`` octets when the septets fit them."""
    if not septets.isascii():
        raise TextError("a septet is at most 0x7F")
    spare = -(fill_bits + 7 * len(septets)) % 8
    ends_with_cr = spare == 0 and septets.endswith(b"\r")
    if spare == 7 or (ends_with_cr and (room is None or _packed_octets(septets, fill_bits) < room)):
        # 23.038 §6.1.2.3.1: CR fills 7 spare bits, which the receiver would read as '@', and a
        # CR that ends on an octet boundary gets a second one so it is not taken for that fill
        # (unless the part is full: 160 septets end the message, with no fill to mistake).
        septets += b"\r"
    value = int.from_bytes(septets, "little")
    for low, high, shift in _squeeze_steps(_lanes(len(septets))):
        value = (value & low) | ((value & high) >> shift)
    return (value << fill_bits).to_bytes((fill_bits + 7 * len(septets) + 7) // 8, "little")


def _packed_octets(septets: bytes, fill_bits: int) -> int:
    return (fill_bits + 7 * len(septets) + 7) // 8


def unpack_septets(packed: bytes, fill_bits: int = 0) -> bytes:
    """Septets, one per octet, from 7-bit packing that starts after ``fill_bits`` bits."""
    count = max(8 * len(packed) - fill_bits, 0) // 7
    value = (int.from_bytes(packed, "little") >> fill_bits) & ((1 << 7 * count) - 1)
    for low, high, shift in reversed(_squeeze_steps(_lanes(count))):
        value = (value & low) | ((value << shift) & high)
    septets = value.to_bytes(count, "little")
    if septets.endswith(b"\r") and (fill_bits + 7 * count) % 8 == 0:
        return septets[:-1]  # the CR that filled 7 spare bits (see pack_septets)
    return septets


def _fill_bits(udh_length: int) -> int:
    """Bits after a UDH of ``udh_length`` octets, so the text starts on a septet boundary."""
    return -8 * udh_length % 7


def encode_text(
    text: str,
    encoding: Encoding,
    *,
    udh: bytes = b"",
    gsm_packed: bool = False,
    default_alphabet: DefaultAlphabet = DefaultAlphabet.GSM,
) -> tuple[DataCoding, bytes]:
    """The data_coding and short_message (``udh`` first, if any) that carry ``text``."""
    if encoding is Encoding.UCS2:
        try:
            return DataCoding.UCS2, udh + text.encode("utf-16-be")
        except UnicodeEncodeError:
            raise TextError("a lone surrogate cannot be sent as UCS-2") from None
    if default_alphabet is not DefaultAlphabet.GSM:
        try:
            return DataCoding.SMSC_DEFAULT, udh + text.encode(default_alphabet.value)
        except UnicodeEncodeError as error:
            missing = error.object[error.start : error.end]
            raise TextError(
                f"{missing!r} is not in the SMSC's {default_alphabet} alphabet"
            ) from None
    septets = gsm_encode(text)
    if gsm_packed:
        septets = pack_septets(septets, _fill_bits(len(udh)), room=SMS_OCTETS - len(udh))
    return DataCoding.SMSC_DEFAULT, udh + septets


class _Alphabet(enum.Enum):
    """How text octets are read; the values are Python codec names."""

    GSM = "gsm"
    ASCII = "ascii"
    LATIN_1 = "latin-1"
    CYRILLIC = "iso8859-5"
    HEBREW = "iso8859-8"
    KOREAN = "euc_kr"
    UCS2 = "utf-16-be"


_SMPP_ALPHABETS: Final[dict[int, _Alphabet]] = {
    DataCoding.SMSC_DEFAULT: _Alphabet.GSM,
    DataCoding.IA5: _Alphabet.ASCII,
    DataCoding.LATIN_1: _Alphabet.LATIN_1,
    0x06: _Alphabet.CYRILLIC,
    0x07: _Alphabet.HEBREW,
    DataCoding.UCS2: _Alphabet.UCS2,
    0x0E: _Alphabet.KOREAN,  # KS C 5601
}
# Bits 3-2 of a GSM 03.38 general data coding group: default alphabet, 8-bit data, UCS-2.
_GSM_GROUP_ALPHABETS: Final = (_Alphabet.GSM, None, _Alphabet.UCS2, None)


def _alphabet(data_coding: int) -> _Alphabet | None:
    # SMPP 3.4 §5.2.19 defines the low values itself; the rest follow the GSM 03.38 DCS groups
    # that SMSCs pass on from handsets: general data coding with a message class (0x10-0x3F),
    # marked for automatic deletion (0x40-0x7F), message waiting and message class (0xC0 up).
    if data_coding < 0x10:
        return _SMPP_ALPHABETS.get(data_coding)
    if data_coding < 0x80:
        if data_coding & 0x20:
            return None  # compressed text
        return _GSM_GROUP_ALPHABETS[(data_coding >> 2) & 0x03]
    if data_coding < 0xC0:
        return None  # reserved
    if data_coding < 0xE0:
        return _Alphabet.GSM
    if data_coding < 0xF0:
        return _Alphabet.UCS2
    return None if data_coding & 0x04 else _Alphabet.GSM


def message_body(
    short_message: bytes, data_coding: int, *, udh_length: int = 0, gsm_packed: bool = False
) -> bytes:
    """One part's text octets: the UDH dropped and packed GSM spread to one septet per octet.

    Bodies of the parts of one message can be concatenated before ``decode_body``.
    """
    body = short_message[udh_length:]
    alphabet = _alphabet(data_coding)
    if gsm_packed and alphabet is _Alphabet.GSM:
        return unpack_septets(body, _fill_bits(udh_length))
    if alphabet is _Alphabet.UCS2:
        # Per part: a stray octet in one would shift every character of the parts after it.
        return _whole_ucs2(body)
    return body


def _whole_ucs2(body: bytes) -> bytes:
    """``body`` without a stray last octet: some SMSCs pad UCS-2 text with one."""
    return body[: len(body) & ~1]


def decode_body(body: bytes, data_coding: int) -> str:
    """Text from ``message_body`` octets; undecodable octets become U+FFFD, never an error."""
    alphabet = _alphabet(data_coding)
    if alphabet is None:
        raise TextError(f"data_coding {data_coding:#04x} is not a text coding")
    if alphabet is _Alphabet.GSM:
        return gsm_decode(body)
    if alphabet is _Alphabet.UCS2:
        body = _whole_ucs2(body)
    return body.decode(alphabet.value, "replace")
