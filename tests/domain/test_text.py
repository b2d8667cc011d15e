"""The NUL rule: refused in what a request stores, replaced in what was received."""

from __future__ import annotations

import pytest

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.text import REPLACEMENT, refuse_nul, replace_nul

CONTROLS = "line one\nline two\r\n\ttab\x0cform feed\x1bescape\x7fdelete"


@pytest.mark.parametrize("value", ["\x00", "a\x00", "\x00b", "Привет\x00😀"])
def test_refuse_nul_names_the_value(value: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        refuse_nul("Text", value)
    assert raised.value.code == 2
    assert raised.value.desc.startswith("Text contains") and "U+0000" in raised.value.desc


@pytest.mark.parametrize("value", ["", "Hello", CONTROLS, "".join(map(chr, range(1, 32)))])
def test_refuse_nul_passes_every_other_character(value: str) -> None:
    assert refuse_nul("Text", value) is value


def test_replace_nul_puts_the_replacement_character_in_its_place() -> None:
    assert replace_nul("\x00a\x00\x00b\n\x00") == f"{REPLACEMENT}a{REPLACEMENT * 2}b\n{REPLACEMENT}"
    assert REPLACEMENT == "\ufffd"
    assert replace_nul(CONTROLS) == CONTROLS
