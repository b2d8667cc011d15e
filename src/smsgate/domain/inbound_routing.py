"""Which account an incoming (mobile-originated) message belongs to.

An account owns an incoming number (a short code such as ``2420`` or a long number), either
whole or for one keyword (prefix): on a shared short code the first word of the text picks the
account, compared case-insensitively. A text whose first word matches no keyword of its number
goes to the account owning the number without a keyword; with no such owner it is unrouted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from smsgate.domain.digits import is_ascii_number
from smsgate.domain.phone import without_formatting

MAX_NUMBER_LENGTH = 21  # SMPP's destination_addr holds at most 21 characters
# The longest source or destination address an incoming message may have: data_sm allows 64,
# no operator sends one longer than this.
MAX_ADDRESS_LENGTH = 32
MAX_PREFIX_LENGTH = 32
# What a keyword is compared by (``prefix_key``) can be longer: casefolding makes up to three
# characters of one ("ΐ").
MAX_PREFIX_KEY_LENGTH = 3 * MAX_PREFIX_LENGTH

# A word is a run of letters, digits or underscores, so "Pizza, two" starts with "Pizza".
_WORD = re.compile(r"\w+")


class RoutingRuleError(ValueError):
    """An incoming number or a keyword that cannot be owned."""


@dataclass(frozen=True, slots=True)
class InboundRoute:
    """``account_id`` owns ``number`` for texts starting with ``prefix`` ("" = any text)."""

    account_id: int
    number: str
    prefix: str


def normalize_number(raw: str) -> str:
    """``+7 (911) 568-74-51`` -> ``79115687451``, the formatting stripped as from the numbers
    clients send to; a short code stays as it is."""
    number = without_formatting(raw)
    if not is_ascii_number(number, MAX_NUMBER_LENGTH):
        raise RoutingRuleError(f"not an incoming number: {raw!r}")
    return number


def validate_prefix(raw: str) -> str:
    """A keyword is one word (letters, digits, underscores) of at most 32 characters."""
    prefix = _composed(raw).strip()
    if not _WORD.fullmatch(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise RoutingRuleError(f"a prefix is one word of at most {MAX_PREFIX_LENGTH} characters")
    return prefix


def prefix_key(prefix: str) -> str:
    """What keywords are compared by: two keywords that differ only in case, or in how their
    letters are encoded ("é" as one character or as "e" and an accent), are one."""
    return _composed(prefix).casefold()


def first_word(text: str) -> str:
    """The text's first word, past the blanks and the invisible marks (a byte order mark, a
    direction mark) some phones put first."""
    text = _composed(text)
    start = 0
    while start < len(text) and (
        text[start].isspace() or unicodedata.category(text[start]) == "Cf"
    ):
        start += 1
    match = _WORD.match(text, start)
    return match.group(0) if match else ""


def _composed(text: str) -> str:
    # A decomposed "é" is "e" and a combining accent, which no word takes in: "café" ended
    # at "caf".
    return unicodedata.normalize("NFC", text)


def route_incoming(routes: Iterable[InboundRoute], text: str) -> InboundRoute | None:
    """The route of a text among the routes of its destination number, or None (unrouted)."""
    word = prefix_key(first_word(text))
    fallback = None
    for route in routes:
        if not route.prefix:
            fallback = route
        elif word and prefix_key(route.prefix) == word:
            return route
    return fallback
