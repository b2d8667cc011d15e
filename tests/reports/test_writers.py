"""Report files on their own: Excel's row limit, empty reports, and the CSV's encoding."""

from __future__ import annotations

import csv
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from smsgate.reports.writers import Column, CsvReportWriter, Kind, XlsxReportWriter

COLUMNS = [
    Column("Id", Kind.NUMBER),
    Column("When", Kind.TIME),
    Column("Text", Kind.TEXT),
    Column("Price", Kind.MONEY),
]


def rows(writer: CsvReportWriter | XlsxReportWriter, count: int) -> list[tuple[object, ...]]:
    return [
        (
            index,
            writer.time(f"2025-03-10 12:00:{index:02d}"),
            f"text {index}",
            writer.amount(Decimal("0.5")),
        )
        for index in range(count)
    ]


def test_a_long_xlsx_report_goes_on_to_further_sheets(tmp_path: Path) -> None:
    path = tmp_path / "long.xlsx"
    writer = XlsxReportWriter(path, COLUMNS, tmp_path, rows_per_sheet=3)
    writer.write(rows(writer, 4))
    writer.write(rows(writer, 3)[:3])
    writer.close()
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Messages", "Messages 2", "Messages 3"]
    counts = []
    for sheet in book.worksheets:
        values = list(sheet.iter_rows(values_only=True))
        assert values[0] == ("Id", "When", "Text", "Price")
        assert sheet.freeze_panes == "A2"
        counts.append(len(values) - 1)
    assert counts == [3, 3, 1]
    first = next(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert first == (0, datetime(2025, 3, 10, 12, 0, 0), "text 0", 0.5)


def test_an_empty_report_is_its_header(tmp_path: Path) -> None:
    xlsx = XlsxReportWriter(tmp_path / "empty.xlsx", COLUMNS, tmp_path)
    xlsx.close()
    sheet = openpyxl.load_workbook(tmp_path / "empty.xlsx").worksheets[0]
    assert list(sheet.iter_rows(values_only=True)) == [("Id", "When", "Text", "Price")]
    CsvReportWriter(tmp_path / "empty.csv", COLUMNS).close()
    assert (tmp_path / "empty.csv").read_bytes() == "\ufeffId;When;Text;Price\r\n".encode()


def test_csv_amounts_take_a_decimal_comma_and_empty_cells_stay_empty(tmp_path: Path) -> None:
    writer = CsvReportWriter(tmp_path / "r.csv", COLUMNS)
    writer.write(
        [
            (1, writer.time(None), None, writer.amount(Decimal("1000.0000"))),
            (2, writer.time("2025-03-10 12:00:00"), "a;b", writer.amount(Decimal("0.1250"))),
        ]
    )
    writer.close()
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as file:
        assert list(csv.reader(file, delimiter=";"))[1:] == [
            ["1", "", "", "1000"],
            ["2", "2025-03-10 12:00:00", "a;b", "0,125"],
        ]


INJECTED = (
    '<r><t>hi</t></r></is></c><c r="C2"><f>HYPERLINK("http://evil.example","x")</f></c>'
    "<c><is><r><t>x</t></r>"
)


def test_xlsx_text_is_text_whatever_it_holds(tmp_path: Path) -> None:
    # XlsxWriter's constant-memory mode wrote a text in <r>...</r> into the sheet's XML as it
    # is: the first broke the file, the second wrote a formula cell of its own.
    texts = ["<r>a & b</r>", INJECTED, "=1+1", "<r>"]
    columns = [Column("<r>name</r>", Kind.TEXT), Column("State", Kind.NUMBER)]
    path = tmp_path / "texts.xlsx"
    writer = XlsxReportWriter(path, columns, tmp_path)
    writer.write([(text, -1) for text in texts])
    writer.close()
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert list(sheet.iter_rows(values_only=True)) == [
        ("<r>name</r>", "State"),
        *((text, -1) for text in texts),
    ]
    assert all(cell.data_type == "s" for row in sheet.iter_rows(max_col=1) for cell in row)


def test_csv_text_that_a_spreadsheet_would_take_for_a_formula_is_kept_as_text(
    tmp_path: Path,
) -> None:
    columns = [Column("=Id", Kind.TEXT), Column("State", Kind.NUMBER), Column("Text", Kind.TEXT)]
    writer = CsvReportWriter(tmp_path / "r.csv", columns)
    texts = [
        '=HYPERLINK("http://evil.example";"x")',
        "+7 900",
        "-5%",
        "@SUM(1)",
        "\tx",
        "ok = fine",
    ]
    writer.write([(text, -1, "plain") for text in texts])
    writer.close()
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as file:
        read = list(csv.reader(file, delimiter=";"))
    assert read[0] == ["'=Id", "State", "Text"]
    assert read[1:] == [
        *([f"'{text}", "-1", "plain"] for text in texts[:-1]),
        ["ok = fine", "-1", "plain"],
    ]


def test_an_xlsx_sheet_past_the_zip_member_limit_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 GiB for real would take minutes: the limit is lowered instead.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1 << 20)
    path = tmp_path / "big.xlsx"
    writer = XlsxReportWriter(path, COLUMNS, tmp_path)
    text = "Привет, мир! " * 80
    writer.write([(i, writer.time("2025-03-10 12:00:00"), text, None) for i in range(1_000)])
    writer.close()
    with zipfile.ZipFile(path) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
        assert sheet.file_size > 1 << 20
    monkeypatch.undo()
    book = openpyxl.load_workbook(path, read_only=True)
    assert sum(1 for _ in book.worksheets[0].iter_rows()) == 1_001
