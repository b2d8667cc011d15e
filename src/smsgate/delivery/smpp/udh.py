"""Concatenation user data headers (3GPP TS 23.040 §9.2.3.24.1 and .8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeVar

IEI_CONCAT_8BIT: Final = 0x00
IEI_CONCAT_16BIT: Final = 0x08

T = TypeVar("T")


class UdhError(ValueError):
    """A user data header that cannot be built or does not parse."""


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message; ``seqnum`` counts from 1."""

    reference: int
    total: int
    seqnum: int

    def __post_init__(self) -> None:
        if not (0 <= self.reference <= 0xFFFF and 1 <= self.seqnum <= self.total <= 0xFF):
            raise UdhError(f"invalid concatenation {self.reference}: {self.seqnum}/{self.total}")

    @classmethod
    def if_possible(cls, reference: int, total: int, seqnum: int) -> Concat | None:
        """The place these values give; None for impossible ones, which 23.040 has a receiver
        ignore (so the part is taken as a whole message), in a UDH or in SAR TLVs alike."""
        try:
            return cls(reference, total, seqnum)
        except UdhError:
            return None


def concat_udh(concat: Concat, *, wide: bool = False) -> bytes:
    """The UDH, length octet first, with an 8-bit (or, if ``wide``, 16-bit) reference."""
    if wide:
        high, low = divmod(concat.reference, 0x100)
        return bytes((6, IEI_CONCAT_16BIT, 4, high, low, concat.total, concat.seqnum))
    if concat.reference > 0xFF:
        raise UdhError(f"reference {concat.reference} needs the 16-bit header")
    return bytes((5, IEI_CONCAT_8BIT, 3, concat.reference, concat.total, concat.seqnum))


def split_udh(short_message: bytes) -> tuple[bytes, bytes]:
    """(UDH including its length octet, the rest) of a short_message sent with UDHI set."""
    if not short_message or short_message[0] + 1 > len(short_message):
        raise UdhError("the UDH length octet overruns the message")
    end = short_message[0] + 1
    return short_message[:end], short_message[end:]


def find_concat(udh: bytes) -> Concat | None:
    """The concatenation element of ``udh`` (from ``split_udh``), among any others.

    Following 23.040, an element with impossible values is ignored and, when the element
    repeats, the last valid one counts.
    """
    found = None
    pos, end = 1, len(udh)
    while pos < end:
        if end - pos < 2:
            raise UdhError("truncated information element")
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if len(data) != length:
            raise UdhError(f"element {iei:#04x} overruns the UDH")
        if iei == IEI_CONCAT_8BIT and length == 3:
            reference, total, seqnum = data
        elif iei == IEI_CONCAT_16BIT and length == 4:
            reference, total, seqnum = (data[0] << 8) | data[1], data[2], data[3]
        else:
            continue
        found = Concat.if_possible(reference, total, seqnum) or found
    return found
