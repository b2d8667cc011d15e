"""U+0000 (NUL) in texts the platform stores.

PostgreSQL text cannot hold a NUL, and SQLite can: without this rule the same text would be
accepted on one backend and fail on the other. A NUL in a request is refused; one in a
received message is replaced, since a message that arrived must never be lost. Every other
character stays allowed, control characters included: GSM 03.38 carries LF, CR and form feed,
UCS-2 carries them all.
"""

from __future__ import annotations

from typing import Final

from smsgate.domain.errors import InvalidArgument

NUL: Final = "\x00"
REPLACEMENT: Final = "\ufffd"  # what decoding puts for an undecodable character, too


def refuse_nul(name: str, value: str) -> str:
    """``value`` unchanged; ``InvalidArgument`` naming ``name`` if it holds a NUL."""
    if NUL in value:
        raise InvalidArgument(f"{name} contains the character U+0000 (NUL), which is not allowed")
    return value


def replace_nul(text: str) -> str:
    """``text`` with every NUL replaced by U+FFFD."""
    return text.replace(NUL, REPLACEMENT)
