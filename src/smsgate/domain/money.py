"""Amounts: their bounds, and as the API writes them."""

from __future__ import annotations

from decimal import Decimal

# An amount has at most this many decimal places, and this many digits in all: PostgreSQL keeps
# money as NUMERIC(18, 4), and SQLite as a 64-bit count of ten-thousandths.
MONEY_PLACES = 4
MONEY_DIGITS = 18
# The smallest amount there is.
MINOR_UNIT = Decimal(1).scaleb(-MONEY_PLACES)
# What a balance or a price may reach, exclusive (SQLite's count holds a little more).
MONEY_LIMIT = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES)


def decimal_text(amount: Decimal) -> str:
    """The JSON number of ``amount``, exactly: ``Decimal('0.5000')`` -> ``0.5``,
    ``Decimal('1000.0000')`` -> ``1000``."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text
