"""Phone numbers: client input to international digits, validated against libphonenumber metadata.

A number is accepted exactly when ``phonenumbers.parse("+" + digits)`` succeeds, the result
``is_valid_number`` and its ``number_type`` is FIXED_LINE, MOBILE or FIXED_LINE_OR_MOBILE,
and it has at most the 15 digits of an international number (ITU-T E.164: phonenumbers takes
a few longer German fixed lines, which no SMSC addresses and no part row could hold).
Going through ``phonenumbers`` costs tens of µs a number (it recompiles metadata patterns and
runs a regular expression per number type), too slow for bulk sends. This module mirrors the steps
of that path on pre-compiled metadata: per country calling code and national number length, all
the type checks fold into one regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from smsgate.domain.digits import is_ascii_digits
from smsgate.domain.errors import InvalidArgument, echoed

# Bounds phonenumbers puts on a national significant number.
_MIN_NATIONAL_LENGTH = 2
_MAX_NATIONAL_LENGTH = 17
# ITU-T E.164's bound on an international number, country code included.
MAX_INTERNATIONAL_DIGITS = 15

# Formatting clients put in numbers; a leading "+" is handled apart because only there is it
# meaningful (and it may arrive as a space, "+" being a space in urlencoded forms).
_FORMATTING = str.maketrans("", "", " \t\u00a0-().")
_LIST_ITEM = re.compile(r"[^,;]+")

_CALLING_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}


def _descs_excluded(metadata: PhoneMetadata) -> tuple[PhoneNumberDesc | None, ...]:
    """Types phonenumbers tests before fixed line and mobile: matching one of them decides."""
    return (
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    )


def _descs_accepted(metadata: PhoneMetadata) -> tuple[PhoneNumberDesc | None, ...]:
    # With identical patterns phonenumbers never tests mobile on its own (its possible lengths
    # may still differ), so leave it out to reach the same verdict.
    if metadata.same_mobile_and_fixed_line_pattern:
        return (metadata.fixed_line,)
    return (metadata.fixed_line, metadata.mobile)


def _pattern_for_length(desc: PhoneNumberDesc | None, length: int) -> str | None:
    """The desc's pattern if a number of this length can match it, as phonenumbers decides."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return desc.national_number_pattern


def _any_of(patterns: list[str]) -> str:
    return "|".join(f"(?:{pattern})" for pattern in patterns)


def _type_checks(metadata: PhoneMetadata, accepted_only: bool) -> dict[int, re.Pattern[str]]:
    """Per national number length, one pattern whose full match means "valid number of a wanted
    type" (``accepted_only``) or "valid number of any type" (the test for a region's own)."""
    checks: dict[int, re.Pattern[str]] = {}
    general_desc = metadata.general_desc
    if general_desc is None:
        return checks
    for length in general_desc.possible_length:
        general = _pattern_for_length(general_desc, length)
        if general is None:
            continue
        excluded = [
            pattern
            for desc in _descs_excluded(metadata)
            if (pattern := _pattern_for_length(desc, length)) is not None
        ]
        accepted = [
            pattern
            for desc in _descs_accepted(metadata)
            if (pattern := _pattern_for_length(desc, length)) is not None
        ]
        if accepted_only:
            if not accepted:
                continue
            guard = f"(?!(?:{_any_of(excluded)})\\Z)" if excluded else ""
            body = _any_of(accepted)
        else:
            if not excluded and not accepted:
                continue
            guard = ""
            body = _any_of(excluded + accepted)
        checks[length] = re.compile(f"(?=(?:{general})\\Z){guard}(?:{body})")
    return checks


@dataclass(frozen=True, slots=True)
class _Region:
    """One region's validation rules."""

    code: str
    leading_digits: re.Pattern[str] | None
    any_type: dict[int, re.Pattern[str]]
    wanted_type: dict[int, re.Pattern[str]]

    @classmethod
    def build(cls, code: str, metadata: PhoneMetadata) -> _Region:
        leading = metadata.leading_digits
        return cls(
            code=code,
            leading_digits=re.compile(leading) if leading else None,
            any_type=_type_checks(metadata, accepted_only=False),
            wanted_type=_type_checks(metadata, accepted_only=True),
        )

    def owns(self, national: str) -> bool:
        """Whether a number of a shared calling code belongs here (phonenumbers' rule)."""
        if self.leading_digits is not None:
            return self.leading_digits.match(national) is not None
        check = self.any_type.get(len(national))
        return check is not None and check.fullmatch(national) is not None

    def accepts(self, national: str) -> bool:
        check = self.wanted_type.get(len(national))
        return check is not None and check.fullmatch(national) is not None


@dataclass(frozen=True, slots=True)
class _CallingCode:
    """Parsing and validation rules behind one country calling code."""

    digits: str
    national_prefix: re.Pattern[str] | None
    prefix_transform: str | None
    general: re.Pattern[str] | None
    # Lengths at which phonenumbers keeps a number whose national prefix it stripped; it also
    # keeps any longer than ``longest_possible`` (such a number fails validation later).
    stripped_lengths: frozenset[int]
    longest_possible: int
    regions: tuple[_Region, ...]
    shared: bool

    def national_number(self, rest: str) -> str:
        """The national significant number phonenumbers makes of the digits after the code."""
        if self.national_prefix is None:
            return rest
        match = self.national_prefix.match(rest)
        if match is None:
            return rest
        groups = match.groups()
        if not self.prefix_transform or groups[-1] is None:
            candidate = rest[match.end() :]
        else:
            candidate = self.national_prefix.sub(self.prefix_transform, rest, count=1)
        if (
            self.general is not None
            and self.general.fullmatch(rest) is not None
            and self.general.fullmatch(candidate) is None
        ):
            return rest
        if len(candidate) > self.longest_possible or len(candidate) in self.stripped_lengths:
            return candidate
        return rest

    def region_of(self, national: str) -> _Region | None:
        if not self.shared:
            return self.regions[0] if self.regions else None
        for region in self.regions:
            if region.owns(national):
                return region
        return None


def _stripped_lengths(desc: PhoneNumberDesc) -> frozenset[int]:
    """Lengths up to the longest possible one that pass phonenumbers' test of a stripped number."""
    return frozenset(desc.possible_length) - frozenset(desc.possible_length_local_only)


@cache
def _calling_code(code: int) -> _CallingCode | None:
    region_codes = COUNTRY_CODE_TO_REGION_CODE[code]
    main = PhoneMetadata.metadata_for_region_or_calling_code(code, region_codes[0])
    general = main.general_desc if main is not None else None
    if main is None or general is None:
        return None
    regions: list[_Region] = []
    for region_code in region_codes:
        if region_code == REGION_CODE_FOR_NON_GEO_ENTITY:
            metadata = PhoneMetadata.metadata_for_nongeo_region(code)
        else:
            metadata = PhoneMetadata.metadata_for_region(region_code)
        if metadata is not None:
            regions.append(_Region.build(region_code, metadata))
    return _CallingCode(
        digits=str(code),
        national_prefix=(
            re.compile(main.national_prefix_for_parsing)
            if main.national_prefix_for_parsing
            else None
        ),
        prefix_transform=main.national_prefix_transform_rule,
        general=re.compile(general.national_number_pattern)
        if general.national_number_pattern
        else None,
        stripped_lengths=_stripped_lengths(general),
        longest_possible=general.possible_length[-1],
        regions=tuple(regions),
        shared=len(region_codes) > 1,
    )


def _classify(digits: str) -> tuple[str, str] | None:
    """(international digits, region code) of a valid number given as international digits."""
    # phonenumbers wants more than two digits after "+", and no calling code starts with 0.
    if len(digits) <= _MIN_NATIONAL_LENGTH or digits[0] == "0":
        return None
    code = (
        _CALLING_CODES.get(digits[:1])
        or _CALLING_CODES.get(digits[:2])
        or _CALLING_CODES.get(digits[:3])
    )
    if code is None:
        return None
    plan = _calling_code(code)
    if plan is None:
        return None
    rest = digits[len(plan.digits) :]
    if len(rest) < _MIN_NATIONAL_LENGTH:
        return None
    national = plan.national_number(rest)
    if not _MIN_NATIONAL_LENGTH <= len(national) <= _MAX_NATIONAL_LENGTH:
        return None
    region = plan.region_of(national)
    if region is None or not region.accepts(national):
        return None
    return plan.digits + national, region.code


def without_formatting(raw: str) -> str:
    """``raw`` without the formatting clients put in numbers: a leading ``+``, spaces, dashes,
    dots and brackets (``"+7 (900) 123-45.67"`` -> ``"79001234567"``)."""
    return raw.strip().removeprefix("+").translate(_FORMATTING)


def _lookup(raw: str) -> tuple[str, str] | None:
    """``_classify`` of the number once its formatting is stripped."""
    # Most numbers of a bulk list come clean: they skip the costlier cleanup.
    digits = raw if raw.isdigit() else without_formatting(raw)
    if not is_ascii_digits(digits):
        return None
    classified = _classify(digits)
    if classified is None or len(classified[0]) > MAX_INTERNATIONAL_DIGITS:
        return None
    return classified


def normalize_phone(raw: str, assigned: Callable[[str], bool] | None = None) -> str:
    """The international digits of a phone number (``"+7 (900) 123-45-67"`` -> ``"79001234567"``).

    Raises ``InvalidArgument`` unless it is a valid fixed-line or mobile number, or one that
    ``assigned`` says the national numbering plan in force assigns: libphonenumber's metadata
    lags the plan (it knew no part of 930 00x, numbers of МТТ and Сбербанк-Телеком).
    """
    classified = _lookup(raw)
    if classified is not None:
        return classified[0]
    if assigned is not None:
        digits = without_formatting(raw)
        if assigned(digits):
            return digits
    raise InvalidArgument(f"Invalid phone number: {echoed(raw)}")


def region_of(number: str) -> str | None:
    """ISO 3166 region of a valid phone number (``"79001234567"`` -> ``"RU"``).

    None when the number is not valid (see ``normalize_phone``) or belongs to no country.
    """
    classified = _lookup(number)
    if classified is None or classified[1] == REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    return classified[1]


def split_phone_list(raw: str) -> Iterator[str]:
    """Items of a ``,``- or ``;``-separated phone list, stripped, without empty ones; one at a
    time, so that a caller can stop at the most it takes."""
    for match in _LIST_ITEM.finditer(raw):
        if item := match.group().strip():
            yield item
