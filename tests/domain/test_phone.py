import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    NumberParseException,
    PhoneMetadata,
    PhoneNumberFormat,
    PhoneNumberType,
)

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.phone import normalize_phone, region_of, split_phone_list

# Only spares the reference path from recompiling metadata patterns; parsing is unchanged.
phonenumbers.enable_pattern_cache()

WANTED_TYPES = {
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def reference(digits: str) -> tuple[str, str | None] | None:
    """What plain phonenumbers makes of international digits: (digits, region) or None."""
    try:
        number = phonenumbers.parse("+" + digits)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in WANTED_TYPES:
        return None
    international = phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
    if len(international) > 15:  # over E.164's bound: refused, see smsgate.domain.phone
        return None
    region = phonenumbers.region_code_for_number(number)
    if region == REGION_CODE_FOR_NON_GEO_ENTITY:
        region = None
    return international, region


def ours(digits: str) -> tuple[str, str | None] | None:
    try:
        normalized = normalize_phone(digits)
    except InvalidArgument:
        assert region_of(digits) is None
        return None
    return normalized, region_of(digits)


def _example_numbers() -> list[str]:
    """International digits of every example number in the metadata, of every type."""
    numbers = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            if region == REGION_CODE_FOR_NON_GEO_ENTITY:
                metadata = PhoneMetadata.metadata_for_nongeo_region(code)
            else:
                metadata = PhoneMetadata.metadata_for_region(region)
            assert metadata is not None
            for name in (
                "fixed_line",
                "mobile",
                "toll_free",
                "premium_rate",
                "shared_cost",
                "personal_number",
                "voip",
                "pager",
                "uan",
                "voicemail",
            ):
                desc = getattr(metadata, name)
                if desc is not None and desc.example_number:
                    numbers.append(f"{code}{desc.example_number}")
    return numbers


EXAMPLES = _example_numbers()
CALLING_CODES = sorted(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
NATIONAL_PREFIXES = sorted(
    {
        (str(metadata.country_code), metadata.national_prefix)
        for region in phonenumbers.SUPPORTED_REGIONS
        if (metadata := PhoneMetadata.metadata_for_region(region)) is not None
        and metadata.national_prefix
    }
)


def digits(size: int) -> st.SearchStrategy[str]:
    # One integer per tail rather than a draw per digit keeps hypothesis' overhead low.
    if size == 0:
        return st.just("")
    return st.integers(0, 10**size - 1).map(lambda value: f"{value:0{size}d}")


@st.composite
def random_numbers(draw: st.DrawFn) -> str:
    """A known calling code and random digits, 8 to 15 in all."""
    code = draw(st.sampled_from(CALLING_CODES))
    total = draw(st.integers(8, 15))
    return code + draw(digits(max(0, total - len(code))))


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    """A real example number with its tail replaced, so many draws are (nearly) valid."""
    number = draw(st.sampled_from(EXAMPLES))
    keep = draw(st.integers(1, len(number)))
    size = draw(st.integers(max(0, len(number) - keep - 2), len(number) - keep + 2))
    return number[:keep] + draw(digits(size))


@st.composite
def with_national_prefix(draw: st.DrawFn) -> str:
    """A calling code, then a national prefix (which phonenumbers may strip), then a number."""
    code, prefix = draw(st.sampled_from(NATIONAL_PREFIXES))
    national = draw(st.sampled_from([n for n in EXAMPLES if n.startswith(code)] or [code]))
    return code + prefix + national[len(code) :]


REAL_NUMBERS = {
    "79161234567": "RU",
    "79001234567": "RU",
    "73011234567": "RU",
    "77012345678": "KZ",
    "77172123456": "KZ",
    "998901234567": "UZ",
    "447400123456": "GB",
    "447911123456": "GG",
    "442071838750": "GB",
    "12015550123": "US",
    "16135550123": "CA",
    "4915123456789": "DE",
    "493012345678": "DE",
}


@pytest.mark.parametrize(("number", "region"), sorted(REAL_NUMBERS.items()))
def test_real_numbers(number: str, region: str) -> None:
    assert normalize_phone(number) == number
    assert region_of(number) == region
    assert ours(number) == reference(number)


@pytest.mark.parametrize(
    "number",
    [
        "7916123456",  # a digit short
        "791612345678",  # a digit long
        "78001234567",  # Russian toll-free
        "78091234567",  # Russian premium rate
        "79300380000",  # unallocated Russian mobile range
        "70001234567",  # +7 0.. belongs to neither Russia nor Kazakhstan
        "01234567890",  # no calling code starts with 0
        "99912345678",  # unassigned calling code
        "79",
    ],
)
def test_rejects_numbers_that_cannot_be_real(number: str) -> None:
    with pytest.raises(InvalidArgument, match=f"Invalid phone number: {number}$"):
        normalize_phone(number)
    assert region_of(number) is None
    assert reference(number) is None


def test_a_number_the_plan_assigns_is_taken_though_phonenumbers_does_not_know_it() -> None:
    """The official plan gives 930 0670000..0689999 to МТТ; phonenumbers' metadata, which lags
    it, refuses the whole range (and a bulk holding one of them)."""
    plan = {"79300688071"}
    with pytest.raises(InvalidArgument):
        normalize_phone("79300688071")
    assert normalize_phone("+7 (930) 068-80-71", plan.__contains__) == "79300688071"
    assert normalize_phone("79001234567", plan.__contains__) == "79001234567"
    with pytest.raises(InvalidArgument, match=r"Invalid phone number: 79300688072$"):
        normalize_phone("79300688072", plan.__contains__)


def test_a_number_over_the_15_digits_of_e164_is_refused_though_phonenumbers_takes_it() -> None:
    # A German fixed line of 15 national digits: a part row keeps 16 digits (on PostgreSQL,
    # the whole group commit failed on it, other clients' orders with it: a 500 each).
    number = "49291417776317066"
    assert phonenumbers.is_valid_number(phonenumbers.parse("+" + number))
    with pytest.raises(InvalidArgument, match=f"Invalid phone number: {number}$"):
        normalize_phone(number)
    assert region_of(number) is None


@pytest.mark.parametrize(
    "raw",
    [
        "+79161234567",
        " 79161234567",  # a "+" decoded as a space from a urlencoded form
        "+7 (916) 123-45-67",
        "7-916-123-45-67",
        "7.916.123.45.67",
        "  +7 916 1234567  ",
    ],
)
def test_strips_formatting(raw: str) -> None:
    assert normalize_phone(raw) == "79161234567"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "+",
        "++79161234567",
        "7916123456x",
        "７９１６１２３４５６７",
        "79161234567+",
        "abc",
    ],
)
def test_rejects_what_is_not_digits(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize_phone(raw)
    assert caught.value.desc == f"Invalid phone number: {raw}"
    assert caught.value.code == 2


def test_every_metadata_example_agrees_with_phonenumbers() -> None:
    assert len(EXAMPLES) > 1000
    for number in EXAMPLES:
        assert ours(number) == reference(number), number


@settings(max_examples=1500, deadline=None)
@given(random_numbers())
@example("78800123456")
def test_random_numbers_agree_with_phonenumbers(digits: str) -> None:
    assert ours(digits) == reference(digits)


@settings(max_examples=1500, deadline=None)
@given(mutated_examples())
def test_mutated_examples_agree_with_phonenumbers(digits: str) -> None:
    assert ours(digits) == reference(digits)


@settings(max_examples=500, deadline=None)
@given(with_national_prefix())
def test_numbers_with_a_national_prefix_agree_with_phonenumbers(digits: str) -> None:
    assert ours(digits) == reference(digits)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 22).flatmap(digits))
def test_any_digits_agree_with_phonenumbers(digits: str) -> None:
    assert ours(digits) == reference(digits)


def test_national_prefix_after_calling_code_is_dropped_like_phonenumbers() -> None:
    # Russia's trunk prefix 8 written after +7: phonenumbers strips it.
    assert normalize_phone("789161234567") == "79161234567"
    assert reference("789161234567") == ("79161234567", "RU")


@pytest.mark.parametrize(
    ("raw", "items"),
    [
        ("79161234567", ["79161234567"]),
        ("79161234567,79161234568", ["79161234567", "79161234568"]),
        ("79161234567, 79161234568 ;79161234569", ["79161234567", "79161234568", "79161234569"]),
        (" +7 916 123 45 67 , ,;", ["+7 916 123 45 67"]),
        ("", []),
        (" , ; ", []),
    ],
)
def test_split_phone_list(raw: str, items: list[str]) -> None:
    assert list(split_phone_list(raw)) == items
