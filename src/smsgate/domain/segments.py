"""Choosing an SMS text's encoding and splitting the text into parts (segments).

GSM 03.38 text: 160 septets in one part, 153 per part when split (the rest of each part holds
the concatenation header); extension-table characters take two septets, an escape and the
character, which must stay in one part. Any other text is UCS-2: 70 UTF-16 code units in one
part, 67 per part when split, never splitting a surrogate pair.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION

from smsgate.domain.errors import InvalidArgument

MAX_PARTS = 10

GSM7_SINGLE_PART = 160
GSM7_MULTI_PART = 153
UCS2_SINGLE_PART = 70
UCS2_MULTI_PART = 67

_ESCAPE = "\x1b"

# The GSM 03.38 alphabet by code, from the tables the gsm0338 codec encodes with, so what counts
# as GSM here is encodable. 0x1B is ESC, the shift to the extension table.
GSM_BASIC_BY_CODE = {code: unicodedata.lookup(name) for code, name in BASIC_CHARACTER_SET.items()}
GSM_EXTENSION_BY_CODE = {
    code: unicodedata.lookup(name) for code, name in BASIC_CHARACTER_SET_EXTENSION.items()
}
# The escape code itself is no character of a text.
_GSM_BASIC = "".join(char for code, char in GSM_BASIC_BY_CODE.items() if code != 0x1B)
_GSM_EXTENSION = "".join(GSM_EXTENSION_BY_CODE.values())

_OUTSIDE_GSM = re.compile(f"[^{re.escape(_GSM_BASIC + _GSM_EXTENSION)}]")
_DROP_BASIC = str.maketrans("", "", _GSM_BASIC)
# Every character of the alphabet is in the table: str.translate is slow on misses.
_TO_WIRE = str.maketrans(
    {char: char for char in _GSM_BASIC} | {char: _ESCAPE + char for char in _GSM_EXTENSION}
)

# The high byte of a UTF-16-LE code unit that starts a surrogate pair (U+D800..U+DBFF).
_HIGH_SURROGATE_BYTES = range(0xD8, 0xDC)


class Encoding(enum.StrEnum):
    """Data coding of a message's parts."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class Segmentation:
    """A text's encoding and its parts, in order; the parts joined give back the text."""

    encoding: Encoding
    parts: tuple[str, ...]


def _gsm_septets(text: str) -> int | None:
    """Septets the text takes in GSM 03.38, None if it has a character outside the alphabet."""
    if _OUTSIDE_GSM.search(text) is not None:
        return None
    return len(text) + len(text.translate(_DROP_BASIC))


def _slices(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[start : start + size] for start in range(0, len(text), size))


def _split_gsm(text: str, septets: int) -> tuple[str, ...]:
    if septets <= GSM7_SINGLE_PART:
        return (text,)
    if septets == len(text):
        return _slices(text, GSM7_MULTI_PART)
    # Spelled as on the air, one character per septet, a part boundary is a plain index; it only
    # has to step back when it would fall between an escape and its character.
    wire = text.translate(_TO_WIRE)
    parts: list[str] = []
    start = 0
    while start < len(wire):
        end = start + GSM7_MULTI_PART
        if wire[end - 1 : end] == _ESCAPE:
            end -= 1
        parts.append(wire[start:end].replace(_ESCAPE, ""))
        start = end
    return tuple(parts)


def _split_ucs2(text: str) -> tuple[str, ...]:
    try:
        data = text.encode("utf-16-le")
    except UnicodeEncodeError:
        # A lone surrogate (say, from a JSON "\\ud83d" escape) has no UCS-2 form to send.
        raise InvalidArgument("Text is not valid Unicode") from None
    if len(data) <= 2 * UCS2_SINGLE_PART:
        return (text,)
    if len(data) == 2 * len(text):
        return _slices(text, UCS2_MULTI_PART)
    parts: list[str] = []
    start = 0
    while start < len(data):
        end = start + 2 * UCS2_MULTI_PART
        if end < len(data) and data[end - 1] in _HIGH_SURROGATE_BYTES:
            end -= 2
        parts.append(data[start:end].decode("utf-16-le"))
        start = end
    return tuple(parts)


def segment_text(text: str) -> Segmentation:
    """The encoding and parts of an SMS text; ``InvalidArgument`` beyond ``MAX_PARTS`` parts."""
    septets = _gsm_septets(text)
    if septets is not None:
        segmentation = Segmentation(Encoding.GSM7, _split_gsm(text, septets))
    else:
        segmentation = Segmentation(Encoding.UCS2, _split_ucs2(text))
    count = len(segmentation.parts)
    if count > MAX_PARTS:
        raise InvalidArgument(f"Text is too long: {count} parts, at most {MAX_PARTS}")
    return segmentation
