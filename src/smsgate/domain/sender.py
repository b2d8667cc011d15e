"""Sender names (originators): their shape, and which ones an account may send from."""

from __future__ import annotations

import re
from collections.abc import Collection

from smsgate.domain.digits import is_ascii_digits
from smsgate.domain.errors import InvalidArgument, InvalidOperation, echoed

MAX_ALPHANUMERIC_LENGTH = 11
MAX_NUMERIC_LENGTH = 15
MAX_SENDER_NAME_LENGTH = max(MAX_ALPHANUMERIC_LENGTH, MAX_NUMERIC_LENGTH)

# Operators carry alphanumeric originators as GSM 7-bit text of at most 11 characters; a
# numeric originator is a phone number (at most 15 digits in E.164).
_ALPHANUMERIC = re.compile(rf"[A-Za-z0-9 ._-]{{1,{MAX_ALPHANUMERIC_LENGTH}}}")
_NUMERIC = re.compile(rf"[0-9]{{1,{MAX_NUMERIC_LENGTH}}}")


def is_numeric_sender(name: str) -> bool:
    """A sender name of digits only: a phone number or a short code, not alphanumeric."""
    return is_ascii_digits(name)


def longest_sender_name(name: str) -> int:
    """How long a sender name of ``name``'s kind may be."""
    return MAX_NUMERIC_LENGTH if is_numeric_sender(name) else MAX_ALPHANUMERIC_LENGTH


def validate_sender_name(name: str) -> str:
    """The name if it can be an originator, else ``InvalidArgument``.

    Up to 11 Latin letters, digits, spaces and ``-._`` (not only spaces), or up to 15 digits.
    """
    if _NUMERIC.fullmatch(name) or (_ALPHANUMERIC.fullmatch(name) and not name.isspace()):
        return name
    raise InvalidArgument(
        f"Invalid sender name: {echoed(name)!r}; use up to {MAX_ALPHANUMERIC_LENGTH} Latin "
        f"letters, digits, spaces and '-._', or up to {MAX_NUMERIC_LENGTH} digits"
    )


def check_sender_allowed(name: str, registered: Collection[str], dynamic_sender: bool) -> None:
    """Raise unless the account may send from ``name``.

    A registered name (exact match) is always allowed; an account with dynamic sender names may
    use any well-formed name (a malformed one raises ``InvalidArgument``).
    """
    if name in registered:
        return
    if dynamic_sender:
        validate_sender_name(name)
        return
    raise InvalidOperation(f"Sender name {echoed(name)!r} is not registered")
