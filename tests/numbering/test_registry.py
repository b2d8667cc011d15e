"""Parsing the numbering plan files in every published format, and the registry built from them."""

from __future__ import annotations

import hashlib
import re
from itertools import pairwise

import pytest

from smsgate.domain.numbering import (
    Column,
    NumberingError,
    NumberingRegistry,
    RegionStatus,
    SubjectZones,
    build_registry,
    parse_numbering_file,
    parse_subject_zones,
)
from smsgate.services.numbering_data import load_packaged_registry
from tests.numbering.helpers import packaged_path

HEADER_8 = "АВС/ DEF;От;До;Емкость;Оператор;Регион;Территория ГАР;ИНН"


def load_registry(numbering: bytes | str, subject_zones: bytes | str) -> NumberingRegistry:
    """The registry of a numbering file and a subject table."""
    return build_registry(parse_numbering_file(numbering), parse_subject_zones(subject_zones))


def lines_of(numbering: bytes) -> list[list[str]]:
    """The data rows of the real file, split into fields."""
    return [line.split(";") for line in numbering.decode("utf-8-sig").splitlines()[1:]]


def csv_text(header: str, rows: list[list[str]], keep: slice = slice(None)) -> str:
    return "\n".join([header, *(";".join(fields[keep]) for fields in rows)])


def test_packaged_files_are_the_documented_sources(
    numbering_bytes: bytes, subject_bytes: bytes
) -> None:
    notice = packaged_path("NOTICE.md").read_text(encoding="utf-8")
    for name, data in (("DEF-9xx.csv", numbering_bytes), ("subject-timezones.csv", subject_bytes)):
        documented = re.search(rf"`{re.escape(name)}`: `([0-9a-f]{{64}})`", notice)
        assert documented is not None
        assert hashlib.sha256(data).hexdigest() == documented.group(1)


def test_packaged_registry_is_complete_and_clean(registry: NumberingRegistry) -> None:
    report = registry.report
    assert report.clean
    assert (report.ranges, len(registry)) == (17_059, 17_059)
    assert report.nationwide_ranges == 37
    assert report.zoned_ranges == 17_059 - 37
    assert report.numbers == sum(numbers.capacity for numbers in registry)
    assert load_packaged_registry() is registry


def test_find_is_an_interval_search(registry: NumberingRegistry) -> None:
    ranges = registry.ranges
    assert all(a.last < b.first for a, b in pairwise(ranges))
    for numbers in ranges[::500]:
        for national in (numbers.first, numbers.last, (numbers.first + numbers.last) // 2):
            assert registry.find(f"7{national}") is numbers
    gaps = [a for a, b in pairwise(ranges) if b.first - a.last > 1]
    assert gaps
    for before in gaps[:50]:
        assert registry.find(f"7{before.last + 1}") is None
    assert registry.find("70000000000") is None  # before the first range


@pytest.mark.parametrize(
    "number",
    ["", "7", "9001234567", "89001234567", "+7900123456", "790012345678", "7900123456x",
     "7９００１２３４５６７", "79_00123456", " 7900123456"],
)  # fmt: skip
def test_find_rejects_anything_but_eleven_digits_starting_with_7(
    registry: NumberingRegistry, number: str
) -> None:
    assert registry.find(number) is None


def test_registry_is_immutable(registry: NumberingRegistry) -> None:
    with pytest.raises(AttributeError):
        registry.report = registry.report  # type: ignore[misc]
    with pytest.raises(AttributeError):
        registry.ranges[0].zone = None  # type: ignore[misc]


def test_multi_subject_and_path_territories_get_their_shared_zone(
    registry: NumberingRegistry,
) -> None:
    zones = {numbers.territory: numbers.zone for numbers in registry}
    assert zones["Город Москва, Московская область"] == "Europe/Moscow"
    assert zones["Московская область, Город Москва"] == "Europe/Moscow"
    assert zones["Республика Крым, Город Севастополь"] == "Europe/Simferopol"
    assert zones["Архангельская область, Ненецкий автономный округ"] == "Europe/Moscow"
    assert zones["г. Норильск|г.о. город Норильск|Красноярский край"] == "Asia/Krasnoyarsk"
    assert zones["Российская Федерация"] is None


def test_zones_of_different_names_count_as_one_only_with_the_same_offsets() -> None:
    subjects = SubjectZones(
        {
            "Город Москва": "Europe/Moscow",
            "Республика Крым": "Europe/Simferopol",
            "Омская область": "Asia/Omsk",
            "Российская Федерация": None,
        }
    )
    same = subjects.resolve("Город Москва, Республика Крым")
    assert (same.zone, same.status) == ("Europe/Moscow", RegionStatus.ZONED)
    differ = subjects.resolve("Город Москва, Омская область")
    assert (differ.zone, differ.status) == (None, RegionStatus.MULTI_ZONE)
    nationwide = subjects.resolve("Российская Федерация")
    assert (nationwide.zone, nationwide.status) == (None, RegionStatus.NATIONWIDE)
    assert subjects.resolve("-").status is RegionStatus.NO_REGION
    unknown = subjects.resolve("Город Москва, Марс")
    assert (unknown.zone, unknown.status, unknown.unmapped) == (
        None,
        RegionStatus.UNMAPPED,
        ("Марс",),
    )


def test_older_subject_spellings_match() -> None:
    subjects = SubjectZones(
        {
            "Чукотский автономный округ": "Asia/Anadyr",
            "Ямало-Ненецкий автономный округ": "Asia/Yekaterinburg",
            "Ненецкий автономный округ": "Europe/Moscow",
            "Удмуртская Республика": "Europe/Samara",
            "Кемеровская область - Кузбасс": "Asia/Novokuznetsk",
            "Республика Саха (Якутия)": "Asia/Yakutsk",
            "Город Москва": "Europe/Moscow",
            "Московская область": "Europe/Moscow",
        }
    )
    assert subjects.subject("Чукотский АО") == "Чукотский автономный округ"
    assert subjects.subject("Ненецкий АО") == "Ненецкий автономный округ"
    assert subjects.subject("Республика Удмуртская") == "Удмуртская Республика"
    assert subjects.subject("Кемеровская обл.") == "Кемеровская область - Кузбасс"
    assert subjects.subject("Республика Саха /Якутия/") == "Республика Саха (Якутия)"
    assert subjects.subject("г. Москва") == "Город Москва"
    assert subjects.subject("область") is None  # more than one subject has the word
    assert subjects.resolve("г. Москва и Московская область").zone == "Europe/Moscow"
    assert subjects.resolve("г. Москва * Московская область").zone == "Europe/Moscow"


def test_seven_column_file_without_gar_parses(
    numbering_bytes: bytes, subject_bytes: bytes, registry: NumberingRegistry
) -> None:
    rows = lines_of(numbering_bytes)
    header = "АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН"
    text = "\n".join([header, *(";".join(fields[:6] + fields[7:]) for fields in rows)])
    parsed = parse_numbering_file(text.encode("utf-8"))
    assert Column.TERRITORY not in parsed.columns and Column.INN in parsed.columns
    older = build_registry(parsed, parse_subject_zones(subject_bytes))
    assert [(r.first, r.last, r.operator, r.inn) for r in older] == [
        (r.first, r.last, r.operator, r.inn) for r in registry
    ]
    # Регион is "-" in 1,659 rows; every other spelling maps, to the zone ГАР gives.
    assert older.report.no_region_ranges == 1_659
    assert older.report.unmapped_subjects == ()
    for old, new in zip(older, registry, strict=True):
        expected = None if old.territory == "" else new.zone
        assert old.zone == expected, old


def test_six_column_cp1251_file_parses(
    numbering_bytes: bytes, subject_bytes: bytes, registry: NumberingRegistry
) -> None:
    rows = lines_of(numbering_bytes)
    text = csv_text("ABC/DEF ; От ; До ; Емкость ; Оператор ; Регион", rows, slice(0, 6))
    parsed = parse_numbering_file(text.replace("\n", "\r\n").encode("cp1251"))
    assert parsed.encoding == "cp1251"
    assert parsed.columns == (
        Column.CODE,
        Column.FIRST,
        Column.LAST,
        Column.CAPACITY,
        Column.OPERATOR,
        Column.REGION,
    )
    older = build_registry(parsed, parse_subject_zones(subject_bytes))
    assert all(numbers.inn is None for numbers in older)
    assert [(r.first, r.last, r.operator) for r in older] == [
        (r.first, r.last, r.operator) for r in registry
    ]


def test_eight_column_file_in_cp1251_and_without_bom(numbering_bytes: bytes) -> None:
    text = numbering_bytes.decode("utf-8-sig")
    in_cp1251 = parse_numbering_file(text.encode("cp1251"))
    without_bom = parse_numbering_file(text.encode("utf-8"))
    with_bom = parse_numbering_file(numbering_bytes)
    assert in_cp1251.encoding == "cp1251" and with_bom.encoding == "utf-8"
    assert in_cp1251.rows == without_bom.rows == with_bom.rows
    assert with_bom.rows[0].operator == 'ООО "Т2 МОБАЙЛ"'


def test_overlapping_ranges_are_rejected(numbering_bytes: bytes, subject_bytes: bytes) -> None:
    first, second = lines_of(numbering_bytes)[:2]
    assert first[0] == second[0]
    overlapping = [*second[:1], str(int(first[2]) - 5).zfill(7), *second[2:]]
    with pytest.raises(NumberingError, match="1 overlapping ranges"):
        load_registry(csv_text(HEADER_8, [first, overlapping]), subject_bytes)
    with pytest.raises(NumberingError, match="overlapping"):
        load_registry(csv_text(HEADER_8, [first, second, first]), subject_bytes)


def test_unmapped_subject_is_reported(numbering_bytes: bytes, subject_bytes: bytes) -> None:
    table = subject_bytes.decode("utf-8")
    without_kamchatka = "\n".join(
        line for line in table.splitlines() if not line.startswith("Камчатский край;")
    )
    partial = load_registry(numbering_bytes, without_kamchatka)
    report = partial.report
    assert report.unmapped_subjects == ("Камчатский край",)
    assert not report.clean
    kamchatka = [numbers for numbers in partial if numbers.territory == "Камчатский край"]
    assert kamchatka and report.unmapped_ranges == len(kamchatka)
    assert all(numbers.zone is None for numbers in kamchatka)


def test_capacity_mismatch_is_reported(numbering_bytes: bytes, subject_bytes: bytes) -> None:
    first, second = lines_of(numbering_bytes)[:2]
    wrong = [*second[:3], "1", *second[4:]]
    report = load_registry(csv_text(HEADER_8, [first, wrong]), subject_bytes).report
    assert report.capacity_mismatch_lines == (3,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("От;До;Оператор;Регион\n1;2;x;y", "lacks"),
        ("АВС/ DEF;От;До;Оператор\n900;1;2;x", "lacks"),
        ("АВС/ DEF;От;До;Оператор;Регион\n900;1;2;x", "4 fields"),
        ("АВС/ DEF;От;До;Оператор;Регион\n900;2;1;x;y", "reversed"),
        ("АВС/ DEF;От;До;Оператор;Регион\n900;1;12345678;x;y", "not a number"),
        ("АВС/ DEF;От;До;Оператор;Регион\n9OO;1;2;x;y", "not a number"),
        # An unbalanced quote takes the lines after it into one field: a csv.Error traceback.
        ('АВС/ DEF;От;До;Оператор;Регион\n900;1;2;x;"T2' + "\nmore" * 30_000, "field limit"),
    ],
)
def test_malformed_numbering_files_are_rejected(text: str, message: str) -> None:
    with pytest.raises(NumberingError, match=message):
        parse_numbering_file(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name;zone\nX;Europe/Moscow", "lacks"),
        ("subject;iana_zone\nX;Europe/Atlantis", "unknown zone"),
        ("subject;iana_zone\nX;Europe/Moscow\nX;Asia/Omsk", "two zones"),
    ],
)
def test_malformed_subject_tables_are_rejected(text: str, message: str) -> None:
    with pytest.raises(NumberingError, match=message):
        parse_subject_zones(text)
