"""Amounts as the API writes them."""

from __future__ import annotations

from decimal import Decimal


def decimal_text(amount: Decimal) -> str:
    """The JSON number of ``amount``, exactly: ``Decimal('0.5000')`` -> ``0.5``,
    ``Decimal('1000.0000')`` -> ``1000``."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text
