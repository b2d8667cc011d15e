"""Concatenation UDH building and parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.delivery.smpp.udh import (
    Concat,
    UdhError,
    concat_udh,
    find_concat,
    split_udh,
)


@st.composite
def concats(draw: st.DrawFn, max_reference: int = 0xFFFF) -> Concat:
    total = draw(st.integers(1, 255))
    return Concat(draw(st.integers(0, max_reference)), total, draw(st.integers(1, total)))


def test_udh_vectors() -> None:
    assert concat_udh(Concat(0xA7, 3, 2)) == bytes.fromhex("05 00 03 a7 03 02")
    assert concat_udh(Concat(0x1234, 3, 2), wide=True) == bytes.fromhex("06 08 04 1234 03 02")


@given(concats(max_reference=0xFF), st.booleans(), st.binary(max_size=20))
def test_round_trip(concat: Concat, wide: bool, text: bytes) -> None:
    udh, rest = split_udh(concat_udh(concat, wide=wide) + text)
    assert rest == text
    assert find_concat(udh) == concat


@given(concats())
def test_round_trip_16_bit(concat: Concat) -> None:
    assert find_concat(concat_udh(concat, wide=True)) == concat


def test_8_bit_reference_must_fit() -> None:
    with pytest.raises(UdhError):
        concat_udh(Concat(256, 2, 1))


@pytest.mark.parametrize(
    ("reference", "total", "seqnum"),
    [(0, 0, 0), (1, 2, 0), (1, 2, 3), (-1, 1, 1), (0x10000, 1, 1), (0, 256, 1)],
)
def test_impossible_concat(reference: int, total: int, seqnum: int) -> None:
    with pytest.raises(UdhError):
        Concat(reference, total, seqnum)


@pytest.mark.parametrize(
    ("udh", "concat"),
    [
        ("0b 0504 0b840000 0003 0f0201", Concat(0x0F, 2, 1)),  # after port addressing
        ("0b 0003 0f0201 0504 0b840000", Concat(0x0F, 2, 1)),  # before it
        ("03 0001 00", None),  # no valid concatenation element
        ("00", None),  # empty header
        ("05 0003 0f0000", None),  # total 0: ignored (23.040)
        ("05 0003 0f0203", None),  # seqnum beyond total: ignored
        ("0a 0003 0f0201 0003 100302", Concat(0x10, 3, 2)),  # repeated: the last counts
        ("0a 0003 0f0201 0003 100000", Concat(0x0F, 2, 1)),  # an invalid repeat is ignored
        ("06 0004 0f020100", None),  # wrong length for the 8-bit element: not a concat
        ("06 0804 00ff0302", Concat(0xFF, 3, 2)),
    ],
)
def test_find_concat(udh: str, concat: Concat | None) -> None:
    assert find_concat(bytes.fromhex(udh)) == concat


@pytest.mark.parametrize("udh", ["05 0003 0f02", "03 00", "02 0003"])
def test_broken_elements(udh: str) -> None:
    with pytest.raises(UdhError):
        find_concat(bytes.fromhex(udh))


@pytest.mark.parametrize("short_message", ["", "05 0003 0f02", "ff"])
def test_udh_length_overrun(short_message: str) -> None:
    with pytest.raises(UdhError):
        split_udh(bytes.fromhex(short_message))
