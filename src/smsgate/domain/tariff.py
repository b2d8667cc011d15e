"""Prices of SMS parts: an account's tariff by destination prefix."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from smsgate.domain.digits import is_ascii_number
from smsgate.domain.errors import InvalidArgument

# A prefix is a country code and the start of a number: at most the digits of one (E.164).
MAX_PREFIX_DIGITS = 15


def is_tariff_prefix(prefix: str) -> bool:
    """1 to ``MAX_PREFIX_DIGITS`` ASCII digits."""
    return is_ascii_number(prefix, MAX_PREFIX_DIGITS)


def _checked_price(price: Decimal, what: str) -> Decimal:
    if not price.is_finite() or price < 0:
        raise InvalidArgument(f"Invalid price for {what}: {price}")
    return price


class Tariff:
    """The price of one part by destination: the longest matching prefix, else the default."""

    __slots__ = ("_default_price", "_lengths", "_prefixes")

    def __init__(self, default_price: Decimal, prefixes: Mapping[str, Decimal]) -> None:
        for prefix in prefixes:
            if not is_tariff_prefix(prefix):
                raise InvalidArgument(f"Invalid tariff prefix: {prefix!r}")
        self._default_price = _checked_price(default_price, "the default")
        self._prefixes = {
            prefix: _checked_price(price, f"prefix {prefix}") for prefix, price in prefixes.items()
        }
        # Only lengths that occur are tried, longest first, so a lookup is a few dict probes.
        self._lengths = sorted({len(prefix) for prefix in self._prefixes}, reverse=True)

    @property
    def default_price(self) -> Decimal:
        return self._default_price

    @property
    def prefixes(self) -> Mapping[str, Decimal]:
        """Read-only view of the price per destination prefix."""
        return MappingProxyType(self._prefixes)

    def price_for(self, destination: str) -> Decimal:
        """Price of one part to ``destination`` (international digits)."""
        prefixes = self._prefixes
        for length in self._lengths:
            price = prefixes.get(destination[:length])
            if price is not None:
                return price
        return self._default_price
