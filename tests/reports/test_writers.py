"""Report files on their own: Excel's row limit, empty reports, and the CSV's encoding."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl

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
