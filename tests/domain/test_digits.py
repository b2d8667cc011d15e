"""Whole numbers in ASCII digits (``smsgate.domain.digits``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.digits import MAX_ID, MAX_ID_DIGITS, is_ascii_number, quoted_id


@pytest.mark.parametrize(
    ("text", "max_digits", "number"),
    [
        ("0", 1, True),
        ("0042", 4, True),
        ("12345", 4, False),
        ("", 4, False),
        ("²", 4, False),
        ("٣", 4, False),
        ("-1", 4, False),
        ("+1", 4, False),
        (" 1", 4, False),
        (b"123", 3, True),
        (b"1 3", 3, False),
    ],
)
def test_is_ascii_number(text: str | bytes, max_digits: int, number: bool) -> None:
    assert is_ascii_number(text, max_digits) is number


@pytest.mark.parametrize(
    ("raw", "part_id"),
    [
        ("371324579", 371324579),
        (" 371324579 ", 371324579),
        ('"371324579"', 371324579),
        ("'371324579'", 371324579),
        ("' 7 '", 7),
        ("9" * MAX_ID_DIGITS, int("9" * MAX_ID_DIGITS)),
        ("9" * (MAX_ID_DIGITS + 1), None),
        (str(MAX_ID), MAX_ID),  # a client's long
        (str(MAX_ID + 1), None),
        ("9" * 5000, None),
        ("²", None),
        ("", None),
        ("1e3", None),
    ],
)
def test_quoted_id(raw: str, part_id: int | None) -> None:
    assert quoted_id(raw) == part_id


@given(st.text(max_size=30))
def test_anything_is_an_id_or_none_never_an_error(raw: str) -> None:
    part_id = quoted_id(raw)
    assert part_id is None or 0 <= part_id <= MAX_ID
