"""Password hashing (argon2id)."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _hash_of_no_password() -> str:
    return _hasher.hash(secrets.token_hex(16))


def verify_against_nothing(password: str) -> bool:
    """Check ``password`` as a login that does not exist must be: against a hash no password
    matches, so that the answer takes as long as a wrong password's (answered at once, the
    time told which logins exist). Always False."""
    verify_password(_hash_of_no_password(), password)
    return False
