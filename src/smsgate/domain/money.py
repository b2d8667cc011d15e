"""Amounts: their bounds, and as the API writes them."""

from __future__ import annotations

from decimal import Decimal

# What a balance or a price may reach, exclusive: PostgreSQL keeps money as NUMERIC(18, 4), and
# SQLite as a 64-bit count of ten-thousandths, which holds a little more.
MONEY_LIMIT = Decimal(10) ** 14


def decimal_text(amount: Decimal) -> str:
    """The JSON number of ``amount``, exactly: ``Decimal('0.5000')`` -> ``0.5``,
    ``Decimal('1000.0000')`` -> ``1000``."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text
