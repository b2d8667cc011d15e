"""The Russian numbering plan: which operator, territory and time zone a mobile number belongs to.

Pure: parses the published files from bytes or text and answers look-ups from memory; reading
the files is the caller's job (``smsgate.services.numbering_data``).

Files are rejected with :class:`NumberingError`, a ``ValueError`` rather than an API error: they
come from the operator of the platform, never from an API client, so no API error code fits.
"""

from __future__ import annotations

import csv
import io
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smsgate.domain.digits import is_ascii_digits, is_ascii_number
from smsgate.domain.file_encoding import utf8_or_cp1251
from smsgate.domain.timezones import same_clock

if TYPE_CHECKING:
    from _csv import Reader

# int("7" + ten zeros): subtracting it turns an international +7 number into a national one.
_NATIONAL_BASE = 70_000_000_000
_NO_TERRITORY = frozenset({"", "-"})


class NumberingError(ValueError):
    """A numbering or subject table file that cannot be used."""


class Column(StrEnum):
    """The columns of a numbering file, whatever their published spelling."""

    CODE = "code"
    FIRST = "first"
    LAST = "last"
    CAPACITY = "capacity"
    OPERATOR = "operator"
    REGION = "region"
    TERRITORY = "territory"
    INN = "inn"


_HEADERS = {
    "от": Column.FIRST,
    "до": Column.LAST,
    "емкость": Column.CAPACITY,
    "оператор": Column.OPERATOR,
    "регион": Column.REGION,
    "территориягар": Column.TERRITORY,
    "инн": Column.INN,
}
_REQUIRED = (Column.CODE, Column.FIRST, Column.LAST, Column.OPERATOR)
# The code column is spelled "АВС/ DEF" with Cyrillic letters in some files, "ABC/DEF" in others.
_LATIN_LOOKALIKES = str.maketrans("авсе", "abce")


@dataclass(frozen=True, slots=True)
class NumberingRow:
    """One range of a numbering file, as published; numbers are 10-digit national ints."""

    line: int
    first: int
    last: int
    capacity: int | None
    operator: str
    territory: str
    inn: str | None


@dataclass(frozen=True, slots=True)
class NumberingFile:
    """A parsed numbering file: its rows, the columns found and the encoding it was in."""

    rows: tuple[NumberingRow, ...]
    columns: tuple[Column, ...]
    encoding: str


def _decode(data: bytes | str) -> tuple[str, str]:
    """The text of a published file and its encoding (UTF-8 with or without BOM, or cp1251)."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), "str"
    encoding = utf8_or_cp1251([data])
    try:
        return data.decode(encoding), encoding.removesuffix("-sig")
    except UnicodeDecodeError as exc:
        raise NumberingError(f"neither UTF-8 nor cp1251: {exc}") from None


def _column(header: str) -> Column | None:
    key = "".join(header.split()).casefold().replace("ё", "е")
    if "def" in key.translate(_LATIN_LOOKALIKES):
        return Column.CODE
    return _HEADERS.get(key)


def _number(value: str, limit: int, line: int, column: Column) -> int:
    if not is_ascii_number(value, len(str(limit))) or int(value) > limit:
        raise NumberingError(f"line {line}: {column} {value!r} is not a number up to {limit}")
    return int(value)


def parse_numbering_file(data: bytes | str) -> NumberingFile:
    """Parse a numbering file in any published format: 8, 7 (no ГАР) or 6 (no ИНН) columns.

    Columns are found by their header names. The territory is ``Территория ГАР`` when the file
    has it and it is filled, else ``Регион``; ``-`` means none and becomes ``""``.
    """
    text, encoding = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        return _parse_rows(reader, encoding)
    except csv.Error as error:  # an unbalanced quote swallowing the lines after it, say
        raise NumberingError(f"line {reader.line_num}: {error}") from None


def _parse_rows(reader: Reader, encoding: str) -> NumberingFile:
    header = next(reader, None)
    if header is None:
        raise NumberingError("empty numbering file")
    columns = tuple(_column(name) for name in header)
    index = {column: i for i, column in enumerate(columns) if column is not None}
    missing = [c.value for c in _REQUIRED if c not in index]
    if missing or (Column.TERRITORY not in index and Column.REGION not in index):
        raise NumberingError(f"header {';'.join(header)!r} lacks {missing or ['region']}")
    rows = []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        line = reader.line_num
        if len(fields) != len(header):
            raise NumberingError(f"line {line}: {len(fields)} fields, header has {len(header)}")
        values = {column: fields[i].strip() for column, i in index.items()}
        code = _number(values[Column.CODE], 999, line, Column.CODE)
        first = _number(values[Column.FIRST], 9_999_999, line, Column.FIRST)
        last = _number(values[Column.LAST], 9_999_999, line, Column.LAST)
        if first > last:
            raise NumberingError(f"line {line}: range {first}..{last} is reversed")
        capacity = values.get(Column.CAPACITY)
        territory = values.get(Column.TERRITORY, "")
        if territory in _NO_TERRITORY:
            territory = values.get(Column.REGION, "")
        rows.append(
            NumberingRow(
                line=line,
                first=code * 10_000_000 + first,
                last=code * 10_000_000 + last,
                capacity=None if not capacity else _number(capacity, 10**7, line, Column.CAPACITY),
                operator=values[Column.OPERATOR],
                territory="" if territory in _NO_TERRITORY else territory,
                inn=values.get(Column.INN) or None,
            )
        )
    found = tuple(column for column in columns if column is not None)
    return NumberingFile(rows=tuple(rows), columns=found, encoding=encoding)


class RegionStatus(StrEnum):
    """How a territory text resolved to a zone."""

    ZONED = "zoned"  # its subjects share one zone, or zones keeping the same offsets
    NATIONWIDE = "nationwide"  # it names a subject mapped to no zone (Российская Федерация)
    MULTI_ZONE = "multi_zone"  # its subjects are in zones whose offsets differ
    UNMAPPED = "unmapped"  # it names a subject the table lacks
    NO_REGION = "no_region"  # the file names no territory


@dataclass(frozen=True, slots=True)
class RegionZone:
    """The zone of a territory text (None unless ZONED) and the subjects the table lacks."""

    zone: str | None
    status: RegionStatus
    unmapped: tuple[str, ...] = ()


_WORD = re.compile(r"[^\W\d_]+")
# Older files abbreviate and reorder subject names ("Чукотский АО", "Республика Удмуртская",
# "г. Москва"): they are compared as sets of words with these abbreviations expanded.
_EXPANSIONS: dict[str, tuple[str, ...]] = {
    "обл": ("область",),
    "ао": ("автономный", "округ"),
    "респ": ("республика",),
    "г": (),
    "город": (),
}
# Separators of multi-subject territories: "A, B" (ГАР), "A и B", "A * B" (older Регион).
_SUBJECT_SEPARATOR = re.compile(r"\s*(?:,|\*|\s+и\s+)\s*")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _subject_key(name: str) -> frozenset[str]:
    words: list[str] = []
    for word in _WORD.findall(name.casefold().replace("ё", "е")):
        words.extend(_EXPANSIONS.get(word, (word,)))
    return frozenset(words)


class SubjectZones:
    """Federal subject name -> IANA zone (None: nationwide), tolerant of older spellings."""

    __slots__ = ("_by_key", "_zones")

    def __init__(self, zones: Mapping[str, str | None]) -> None:
        self._zones = {_squash(subject): zone for subject, zone in zones.items()}
        keys = {subject: _subject_key(subject) for subject in self._zones}
        uses = Counter(keys.values())
        # A key two subjects share identifies neither: those subjects match by exact name only.
        self._by_key = {key: subject for subject, key in keys.items() if key and uses[key] == 1}

    def subject(self, name: str) -> str | None:
        """The table's subject for a name: exact, same words, or the one subject with more."""
        squashed = _squash(name)
        if squashed in self._zones:
            return squashed
        key = _subject_key(squashed)
        if not key:
            return None
        found = self._by_key.get(key)
        if found is not None:
            return found
        wider = [subject for other, subject in self._by_key.items() if key < other]
        return wider[0] if len(wider) == 1 else None

    def resolve(self, territory: str) -> RegionZone:
        """The zone of a territory text: one subject, a ``|`` path, or several subjects."""
        if territory in _NO_TERRITORY:
            return RegionZone(None, RegionStatus.NO_REGION)
        squashed = _squash(territory)
        if squashed in self._zones:
            names = [squashed]
        else:
            # A locality path ends with its subject: "г. Норильск|г.о. ...|Красноярский край".
            tail = squashed.rsplit("|", 1)[-1]
            names = [name for name in _SUBJECT_SEPARATOR.split(tail) if name]
        subjects: list[str] = []
        unmapped: list[str] = []
        for name in names:
            subject = self.subject(name)
            if subject is None:
                unmapped.append(name)
            else:
                subjects.append(subject)
        if unmapped or not subjects:
            return RegionZone(None, RegionStatus.UNMAPPED, tuple(unmapped) or (squashed,))
        zones = list(dict.fromkeys(self._zones[subject] for subject in subjects))
        if None in zones:
            return RegionZone(None, RegionStatus.NATIONWIDE)
        named = [zone for zone in zones if zone is not None]
        # A territory spanning zones of one clock is scheduled in the first subject's zone.
        if len(named) == 1 or same_clock(tuple(named)):
            return RegionZone(named[0], RegionStatus.ZONED)
        return RegionZone(None, RegionStatus.MULTI_ZONE)


def parse_subject_zones(data: bytes | str) -> SubjectZones:
    """Parse the ``subject;iana_zone`` table; an empty zone means nationwide (no zone)."""
    text, _ = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header = [name.strip().casefold() for name in next(reader, [])]
    if "subject" not in header or "iana_zone" not in header:
        raise NumberingError(f"subject table header {header!r} lacks subject;iana_zone")
    subject_at, zone_at = header.index("subject"), header.index("iana_zone")
    zones: dict[str, str | None] = {}
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        line = reader.line_num
        if len(fields) != len(header):
            raise NumberingError(f"subject table line {line}: {len(fields)} fields")
        subject, zone = _squash(fields[subject_at]), fields[zone_at].strip() or None
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise NumberingError(f"subject table line {line}: unknown zone {zone!r}") from None
        if zones.setdefault(subject, zone) != zone:
            raise NumberingError(f"subject table line {line}: {subject!r} has two zones")
    return SubjectZones(zones)


@dataclass(frozen=True, slots=True)
class NumberRange:
    """A range of 10-digit national numbers with its operator, territory text and zone."""

    first: int
    last: int
    operator: str
    territory: str
    zone: str | None
    inn: str | None

    @property
    def capacity(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class NumberingReport:
    """What building a registry found worth knowing; overlaps are rejected instead."""

    ranges: int
    numbers: int
    zoned_ranges: int
    nationwide_ranges: int
    multi_zone_ranges: int
    no_region_ranges: int
    unmapped_ranges: int
    unmapped_subjects: tuple[str, ...]
    capacity_mismatch_lines: tuple[int, ...]

    @property
    def clean(self) -> bool:
        """True when no subject lacks a zone mapping and every capacity adds up."""
        return not self.unmapped_subjects and not self.capacity_mismatch_lines


def _describe(numbers: NumberRange) -> str:
    return f"7{numbers.first}..7{numbers.last} ({numbers.territory or '-'})"


class NumberingRegistry:
    """Immutable, sorted, non-overlapping number ranges with an interval search by number."""

    __slots__ = ("_firsts", "_lasts", "_ranges", "_report")

    _firsts: tuple[int, ...]
    _lasts: tuple[int, ...]
    _ranges: tuple[NumberRange, ...]
    _report: NumberingReport

    def __init__(self, ranges: Iterable[NumberRange], report: NumberingReport) -> None:
        """Sort the ranges; raise NumberingError if any two overlap."""
        ordered = sorted(ranges, key=attrgetter("first"))
        overlaps = []
        widest: NumberRange | None = None  # the range reaching furthest so far
        for numbers in ordered:
            if widest is not None and numbers.first <= widest.last:
                overlaps.append(f"{_describe(widest)} and {_describe(numbers)}")
            if widest is None or numbers.last > widest.last:
                widest = numbers
        if overlaps:
            shown = "; ".join(overlaps[:5])
            raise NumberingError(f"{len(overlaps)} overlapping ranges: {shown}")
        # Parallel tuples of plain ints keep the search in C (bisect) with no per-call objects.
        object.__setattr__(self, "_ranges", tuple(ordered))
        object.__setattr__(self, "_firsts", tuple(numbers.first for numbers in ordered))
        object.__setattr__(self, "_lasts", tuple(numbers.last for numbers in ordered))
        object.__setattr__(self, "_report", report)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"NumberingRegistry is immutable: cannot set {name}")

    def __len__(self) -> int:
        return len(self._ranges)

    def __iter__(self) -> Iterator[NumberRange]:
        return iter(self._ranges)

    @property
    def report(self) -> NumberingReport:
        """What building the registry found (unmapped subjects, nationwide ranges, ...)."""
        return self._report

    @property
    def ranges(self) -> tuple[NumberRange, ...]:
        """All ranges, sorted by their first number."""
        return self._ranges

    def assigns(self, number: str) -> bool:
        """Whether the plan assigns the international number ``7XXXXXXXXXX``."""
        return self.find(number) is not None

    def find(self, number: str) -> NumberRange | None:
        """The range holding an international number ``7XXXXXXXXXX`` (digits only), or None."""
        if len(number) != 11 or number[0] != "7" or not is_ascii_digits(number):
            return None
        national = int(number) - _NATIONAL_BASE
        index = bisect_right(self._firsts, national) - 1
        if index >= 0 and national <= self._lasts[index]:
            return self._ranges[index]
        return None


def build_registry(numbering: NumberingFile, subjects: SubjectZones) -> NumberingRegistry:
    """Resolve every row's zone and build the registry with its report.

    A multi-subject territory gets a zone only when its subjects share one (or zones of one
    clock, see ``timezones.same_clock``); a subject the table lacks leaves its ranges without
    a zone and is listed in the report. Raises NumberingError on overlapping ranges.
    """
    resolved: dict[str, RegionZone] = {}
    # One string object per distinct operator, territory and INN instead of one per row.
    shared: dict[str, str] = {}
    statuses: Counter[RegionStatus] = Counter()
    unmapped: set[str] = set()
    mismatches = []
    ranges = []
    for row in numbering.rows:
        region = resolved.get(row.territory)
        if region is None:
            region = resolved[row.territory] = subjects.resolve(row.territory)
        statuses[region.status] += 1
        unmapped.update(region.unmapped)
        if row.capacity is not None and row.capacity != row.last - row.first + 1:
            mismatches.append(row.line)
        ranges.append(
            NumberRange(
                first=row.first,
                last=row.last,
                operator=shared.setdefault(row.operator, row.operator),
                territory=shared.setdefault(row.territory, row.territory),
                zone=region.zone,
                inn=None if row.inn is None else shared.setdefault(row.inn, row.inn),
            )
        )
    report = NumberingReport(
        ranges=len(ranges),
        numbers=sum(numbers.capacity for numbers in ranges),
        zoned_ranges=statuses[RegionStatus.ZONED],
        nationwide_ranges=statuses[RegionStatus.NATIONWIDE],
        multi_zone_ranges=statuses[RegionStatus.MULTI_ZONE],
        no_region_ranges=statuses[RegionStatus.NO_REGION],
        unmapped_ranges=statuses[RegionStatus.UNMAPPED],
        unmapped_subjects=tuple(sorted(unmapped)),
        capacity_mismatch_lines=tuple(mismatches),
    )
    return NumberingRegistry(ranges, report)
