"""Whole numbers as clients, files and peers write them: ASCII digits, of a bounded length.

``str.isdigit()`` is also true of "²" and "٣", which ``int()`` refuses, and ``int()`` refuses
more than 4,300 digits: either would be a crash where the input deserves a clear error.
"""

from __future__ import annotations

# Ids (parts, reports) are 63-bit integers: at most 18 digits always fit.
MAX_ID_DIGITS = 18
# The largest id a 63-bit column holds (a client's ``long``), of 19 digits.
MAX_ID = 2**63 - 1
_MAX_ID_LENGTH = len(str(MAX_ID))


def is_ascii_digits(text: str | bytes) -> bool:
    """``text`` is one or more ASCII digits."""
    return text.isascii() and text.isdigit()


def is_ascii_number(text: str | bytes, max_digits: int) -> bool:
    """``text`` is 1 to ``max_digits`` ASCII digits."""
    return len(text) <= max_digits and is_ascii_digits(text)


def unquoted(raw: str) -> str:
    """``raw`` without the spaces and quotes around it. The API answers ids and session ids as
    JSON strings, and clients send them back as they kept them: ``371324579``,
    `` 371324579 ``, ``"371324579"`` or ``'371324579'``."""
    return raw.strip().strip("\"'").strip()


def quoted_id(raw: str) -> int | None:
    """The id in ``raw`` (``unquoted``): a number up to ``MAX_ID``; None when it holds none."""
    cleaned = unquoted(raw)
    if not is_ascii_number(cleaned, _MAX_ID_LENGTH):
        return None
    number = int(cleaned)
    return number if number <= MAX_ID else None
