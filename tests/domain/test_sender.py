import pytest

from smsgate.domain.errors import InvalidArgument, InvalidOperation
from smsgate.domain.sender import check_sender_allowed, validate_sender_name


@pytest.mark.parametrize(
    "name",
    [
        "A",
        "Shop",
        "Shop-24.ru",
        "My_Shop 1",
        "ABCDEFGHIJK",  # 11 characters
        " Shop",
        "123456789012345",  # 15 digits
        "79161234567",
    ],
)
def test_valid_sender_names(name: str) -> None:
    assert validate_sender_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "           ",
        "ABCDEFGHIJKL",  # 12 characters
        "1234567890123456",  # 16 digits
        "12345678901a",  # mixed: the 11-character rule applies
        "Магазин",
        "Shop!",
        "Shop\n",
        "Shop\t1",
        "１２３",  # full-width digits
    ],
)
def test_invalid_sender_names(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_sender_name(name)
    assert caught.value.desc.startswith(f"Invalid sender name: {name!r}")


def test_registered_name_is_allowed() -> None:
    check_sender_allowed("Shop", ["Shop", "Other"], dynamic_sender=False)


def test_unregistered_name_is_refused() -> None:
    with pytest.raises(InvalidOperation) as caught:
        check_sender_allowed("shop", ["Shop"], dynamic_sender=False)
    assert caught.value.desc == "Sender name 'shop' is not registered"
    assert caught.value.code == 6


def test_dynamic_sender_allows_any_well_formed_name() -> None:
    check_sender_allowed("Anything", [], dynamic_sender=True)
    with pytest.raises(InvalidArgument):
        check_sender_allowed("Far too long name", [], dynamic_sender=True)
