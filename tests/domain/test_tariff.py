from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.tariff import Tariff

TARIFF = Tariff(
    Decimal("2.50"),
    {
        "7": Decimal("0.50"),
        "7916": Decimal("0.45"),
        "79161": Decimal("0.40"),
        "998": Decimal("1.2"),
    },
)


@pytest.mark.parametrize(
    ("destination", "price"),
    [
        ("79161234567", Decimal("0.40")),
        ("79169234567", Decimal("0.45")),
        ("79001234567", Decimal("0.50")),
        ("998901234567", Decimal("1.2")),
        ("447400123456", Decimal("2.50")),
        ("7", Decimal("0.50")),
        ("", Decimal("2.50")),
    ],
)
def test_longest_prefix_wins_else_default(destination: str, price: Decimal) -> None:
    assert TARIFF.price_for(destination) == price


def test_prices_stay_decimal() -> None:
    assert isinstance(TARIFF.price_for("79161234567"), Decimal)
    assert isinstance(TARIFF.price_for("1"), Decimal)


def test_exposes_its_prices_read_only() -> None:
    assert TARIFF.default_price == Decimal("2.50")
    assert TARIFF.prefixes["7916"] == Decimal("0.45")
    with pytest.raises(TypeError):
        TARIFF.prefixes["7"] = Decimal(0)  # type: ignore[index]


def test_copies_the_prefixes_it_is_given() -> None:
    prefixes = {"7": Decimal(1)}
    tariff = Tariff(Decimal(2), prefixes)
    prefixes["79"] = Decimal(3)
    assert tariff.price_for("79") == Decimal(1)


@pytest.mark.parametrize("prefix", ["", "+7", "7a", "٧", "1" * 16])
def test_refuses_prefixes_that_are_not_1_to_15_digits(prefix: str) -> None:
    with pytest.raises(InvalidArgument):
        Tariff(Decimal(1), {prefix: Decimal(1)})


@pytest.mark.parametrize("price", [Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_refuses_prices_that_are_not_money(price: Decimal) -> None:
    with pytest.raises(InvalidArgument):
        Tariff(price, {})
    with pytest.raises(InvalidArgument):
        Tariff(Decimal(1), {"7": price})


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.text("0123456789", min_size=1, max_size=6),
        st.decimals(0, 100, places=2),
        max_size=30,
    ),
    st.text("0123456789", max_size=12),
)
def test_matches_a_scan_of_all_prefixes(prefixes: dict[str, Decimal], destination: str) -> None:
    matching = [prefix for prefix in prefixes if destination.startswith(prefix)]
    expected = prefixes[max(matching, key=len)] if matching else Decimal("9.99")
    assert Tariff(Decimal("9.99"), prefixes).price_for(destination) == expected
