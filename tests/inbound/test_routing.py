"""The routing rule of incoming messages (pure)."""

from __future__ import annotations

import pytest

from smsgate.domain.inbound_routing import (
    InboundRoute,
    RoutingRuleError,
    first_word,
    normalize_number,
    prefix_key,
    route_incoming,
    validate_prefix,
)

WHOLE = InboundRoute(1, "2420", "")
PIZZA = InboundRoute(2, "2420", "Pizza")
TAXI = InboundRoute(3, "2420", "ТАКСИ")


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("2420", "2420"),
        ("+7 (911) 568-74-51", "79115687451"),
        (" 79115687451 ", "79115687451"),
        ("+7.911.568.74.51", "79115687451"),
    ],
)
def test_numbers_are_digits(raw: str, number: str) -> None:
    assert normalize_number(raw) == number


@pytest.mark.parametrize("raw", ["", "SMS Info", "24x0", "1" * 22, "٢٤٢٠", "7911+5687451"])
def test_not_a_number(raw: str) -> None:
    with pytest.raises(RoutingRuleError):
        normalize_number(raw)


def test_a_prefix_is_one_word() -> None:
    assert validate_prefix(" Pizza ") == "Pizza"
    assert validate_prefix("такси_2") == "такси_2"
    for raw in ("", "two words", "pizza!", "x" * 33):
        with pytest.raises(RoutingRuleError):
            validate_prefix(raw)


def test_keywords_compare_without_case() -> None:
    assert prefix_key("PIZZA") == prefix_key("pizza")
    assert prefix_key("STRASSE") == prefix_key("Straße")
    assert prefix_key("Такси") == prefix_key("ТАКСИ")
    assert prefix_key("Cafe\u0301") == prefix_key("CAFÉ")  # a decomposed "é" is "é"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Pizza, two large", "Pizza"),
        ("  taxi\nnow", "taxi"),
        ("", ""),
        ("!!!", ""),
        ("42", "42"),
        ("\ufeffpizza", "pizza"),  # a byte order mark first
        ("\u200f \u200ftaxi", "taxi"),  # direction marks
        ("cafe\u0301 latte", "café"),  # a decomposed "é" ends no word
    ],
)
def test_first_word(text: str, word: str) -> None:
    assert first_word(text) == word


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("pizza margherita", PIZZA),
        ("PIZZA", PIZZA),
        ("Pizza, two", PIZZA),
        ("такси на Ленина 1", TAXI),
        ("pizzas please", WHOLE),  # the keyword must be the whole first word
        ("hello pizza", WHOLE),  # only the first word selects
        ("", WHOLE),
    ],
)
def test_route_by_first_word_else_the_whole_number(text: str, route: InboundRoute) -> None:
    assert route_incoming([WHOLE, PIZZA, TAXI], text) == route
    assert route_incoming([TAXI, PIZZA, WHOLE], text) == route


def test_unrouted_without_an_owner_of_the_whole_number() -> None:
    assert route_incoming([PIZZA, TAXI], "hello") is None
    assert route_incoming([PIZZA, TAXI], "pizza") == PIZZA
    assert route_incoming([], "pizza") is None
