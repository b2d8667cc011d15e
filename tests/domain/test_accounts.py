"""The shape of a login."""

from __future__ import annotations

import pytest

from smsgate.domain.accounts import MAX_LOGIN_LENGTH, is_valid_login


@pytest.mark.parametrize("login", ["a", "acme-shop", "x" * MAX_LOGIN_LENGTH, "two words"])
def test_a_login_of_1_to_64_characters_is_valid(login: str) -> None:
    assert is_valid_login(login)


@pytest.mark.parametrize("login", ["", " acme", "acme ", "x" * (MAX_LOGIN_LENGTH + 1)])
def test_an_empty_long_or_padded_login_is_not(login: str) -> None:
    assert not is_valid_login(login)
