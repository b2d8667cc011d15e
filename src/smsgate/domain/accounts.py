"""Accounts: the shape of a login."""

from __future__ import annotations

MAX_LOGIN_LENGTH = 64


def is_valid_login(login: str) -> bool:
    """1 to ``MAX_LOGIN_LENGTH`` characters, without surrounding spaces."""
    return 0 < len(login) <= MAX_LOGIN_LENGTH and login == login.strip()
