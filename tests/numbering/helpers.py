"""Helpers shared by the numbering tests."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from smsgate.domain.numbering import NumberingRegistry


def packaged_path(name: str) -> Traversable:
    return files("smsgate") / "data" / name


def number_in(registry: NumberingRegistry, territory: str) -> str:
    """An international number in the middle of the first range of a territory in the file."""
    found = next(numbers for numbers in registry if numbers.territory == territory)
    return f"7{found.first + found.capacity // 2}"
