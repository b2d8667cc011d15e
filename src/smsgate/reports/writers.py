"""Report files written row by row, never held whole: CSV, and Excel through XlsxWriter's
constant-memory mode (one row in memory at a time, flushed to a temporary file)."""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from smsgate.services.reports import ReportFormat

# Rows of an Excel worksheet, the header's included; a longer report goes on to more sheets.
EXCEL_ROWS = 1_048_576
# A report's prices are a handful of distinct values: each is converted once.
_AMOUNTS_MEMO = 1_000


class Kind(enum.Enum):
    NUMBER = "number"
    TEXT = "text"
    TIME = "time"  # a local time, ``YYYY-MM-DD HH:MM:SS``
    MONEY = "money"  # a Decimal


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    kind: Kind
    width: float = 12


class ReportWriter(Protocol):
    """Cells are converted by the caller with ``time`` and ``amount``: one pass per row."""

    def time(self, moment: str | None) -> Any:
        """A ``YYYY-MM-DD HH:MM:SS`` local time as this file's cell value."""

    def amount(self, amount: Decimal) -> Any:
        """An amount as this file's cell value."""

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows of cell values in column order; None is an empty cell."""

    def close(self) -> None:
        """Finish the file."""


def _comma_decimal(amount: Decimal) -> str:
    return format(amount.normalize(), "f").replace(".", ",")


# What makes a spreadsheet read a cell as a formula (OWASP's list): a text that starts so gets
# a leading apostrophe in the CSV, which Excel shows as text. Texts are clients' own, and a
# sub-account's land in its parent's report.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: str | None) -> str | None:
    return "'" + value if value is not None and value.startswith(_FORMULA_STARTS) else value


class CsvReportWriter:
    """UTF-8 with a BOM, ``;``-separated, times ``YYYY-MM-DD HH:MM:SS`` and amounts with a
    decimal comma: what Excel opens as typed columns in Russian locales (with a decimal point
    it would read ``0.5`` as a date)."""

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        # The BOM by hand: the utf-8-sig codec would encode every write in Python.
        self._file = path.open("w", encoding="utf-8", newline="")
        self._file.write("\ufeff")
        # Rows go through a buffer, written once per page: a file write per row costs more.
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=";")
        self._writer.writerow([_as_text(column.header) for column in columns])
        self._texts = [index for index, column in enumerate(columns) if column.kind is Kind.TEXT]
        self.amount = lru_cache(maxsize=_AMOUNTS_MEMO)(_comma_decimal)

    @staticmethod
    def time(moment: str | None) -> str | None:
        return moment

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        self._writer.writerows(self._as_texts(row) for row in rows)
        self._flush()

    def _as_texts(self, row: Sequence[Any]) -> Sequence[Any]:
        for index in self._texts:
            value = row[index]
            if value is not None and value.startswith(_FORMULA_STARTS):
                changed = list(row)
                for text in self._texts:
                    changed[text] = _as_text(changed[text])
                return changed
        return row

    def _flush(self) -> None:
        self._file.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()

    def close(self) -> None:
        self._flush()
        self._file.close()


CellWriter = Callable[[int, int, Any], Any]


def _text_writer(sheet: Worksheet, cell_format: Any = None) -> CellWriter:
    """Writes a text as it is. In constant-memory mode XlsxWriter copies a string that starts
    with ``<r>`` and ends with ``</r>`` into the sheet's XML unescaped, as rich text: such a
    text broke the file or wrote cells of its own (formulas). Written as a rich string of plain
    fragments, it is escaped like any other."""
    write_string = sheet.write_string
    write_rich_string = sheet.write_rich_string

    def write(row: int, col: int, text: str) -> Any:
        if text.startswith("<r>") and text.endswith("</r>"):
            fragments = (text[:1], text[1:2], text[2:])
            if cell_format is None:
                return write_rich_string(row, col, *fragments)
            return write_rich_string(row, col, *fragments, cell_format)
        return write_string(row, col, text, cell_format)

    return write


class XlsxReportWriter:
    """An ``.xlsx`` workbook: a bold, frozen header row; numbers, dates and amounts as typed
    cells; text always as text (a text starting with ``=`` is never a formula)."""

    def __init__(
        self,
        path: Path,
        columns: Sequence[Column],
        workdir: Path,
        rows_per_sheet: int = EXCEL_ROWS - 1,
    ) -> None:
        self._book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "tmpdir": str(workdir)}
        )
        # A sheet of a million rows with a contact base's fields passes the 2 GiB a plain
        # ZIP member holds: without ZIP64 it failed at close, after the whole build.
        self._book.use_zip64()
        self._columns = list(columns)
        self._rows_per_sheet = rows_per_sheet
        self._bold = self._book.add_format({"bold": True})
        self._time = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._money = self._book.add_format({"num_format": "0.00##"})
        # A spreadsheet's number cell is a double, whatever the writer: an amount of at most 15
        # significant digits (any price under 10^11 at four places) reads back exactly.
        self.amount = lru_cache(maxsize=_AMOUNTS_MEMO)(float)
        self._sheets = 0
        self._row = 0
        self._cells: list[tuple[int, CellWriter]] = []

    def _next_sheet(self) -> None:
        self._sheets += 1
        sheet = self._book.add_worksheet(
            "Messages" if self._sheets == 1 else f"Messages {self._sheets}"
        )
        sheet.freeze_panes(1, 0)
        header = _text_writer(sheet, self._bold)
        for index, column in enumerate(self._columns):
            sheet.set_column(index, index, column.width)
            header(0, index, column.header)
        self._cells = [
            (index, self._cell_writer(sheet, column.kind))
            for index, column in enumerate(self._columns)
        ]
        self._row = 1

    def _cell_writer(self, sheet: Worksheet, kind: Kind) -> CellWriter:
        if kind is Kind.NUMBER:
            return sheet.write_number  # type: ignore[no-any-return]
        if kind is Kind.TEXT:
            return _text_writer(sheet)
        if kind is Kind.TIME:
            time = self._time
            return lambda row, col, moment: sheet.write_datetime(row, col, moment, time)
        money = self._money
        return lambda row, col, amount: sheet.write_number(row, col, amount, money)

    @staticmethod
    def time(moment: str | None) -> datetime | None:
        return None if moment is None else datetime.fromisoformat(moment)

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        for values in rows:
            if not self._sheets or self._row > self._rows_per_sheet:
                self._next_sheet()
            row = self._row
            for index, write in self._cells:
                value = values[index]
                if value is not None:
                    write(row, index, value)
            self._row = row + 1

    def close(self) -> None:
        if not self._sheets:  # no rows: the header alone
            self._next_sheet()
        self._book.close()


def open_writer(
    kind: ReportFormat, path: Path, columns: Sequence[Column], workdir: Path
) -> ReportWriter:
    """A writer of ``kind`` creating ``path``; temporary files go to ``workdir``."""
    if kind is ReportFormat.CSV:
        return CsvReportWriter(path, columns)
    return XlsxReportWriter(path, columns, workdir)
