"""Column types that keep money exact and time in UTC on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from smsgate.domain.money import MONEY_DIGITS, MONEY_PLACES

_MINOR_UNITS_PER_UNIT = Decimal(10) ** MONEY_PLACES


class Money(TypeDecorator[Decimal]):
    """A ``Decimal`` amount with four decimal places.

    PostgreSQL stores NUMERIC. SQLite has no decimal type (its NUMERIC is a float), so there the
    amount is an integer count of 1/10,000 units: exact, and ``balance >= cost`` compares exactly.
    """

    impl = Numeric(MONEY_DIGITS, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(MONEY_DIGITS, MONEY_PLACES, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return int((Decimal(value) * _MINOR_UNITS_PER_UNIT).to_integral_value())
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)) / _MINOR_UNITS_PER_UNIT
        return Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp: ``timestamptz`` on PostgreSQL.

    SQLite has no time type; there it is fixed-width UTC text (``2026-01-31 12:00:00.000000``),
    written here rather than by the driver's per-value adapter, so text order is time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(26))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return None if value is None else _bind_conversion(dialect)(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _as_utc_moment(value)

    # Run for every time of every part row: one plain function per value rather than
    # TypeDecorator's wrapper around the two above (a third of the cost).
    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any]:
        convert = _bind_conversion(dialect)
        return lambda value: None if value is None else convert(value)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None]:
        return lambda value: None if value is None else _as_utc_moment(value)


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _sqlite_text(value: datetime) -> str:
    # The ISO text up to its offset (always +00:00 here) is the fixed-width form, at half
    # strftime's cost.
    return _in_utc(value).isoformat(" ", "microseconds")[:26]


def _bind_conversion(dialect: Dialect) -> Callable[[datetime], Any]:
    return _sqlite_text if dialect.name == "sqlite" else _in_utc


def _as_utc_moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
