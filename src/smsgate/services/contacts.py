"""Contact bases: importing them from CSV files and listing them (``smsgate admin contacts``).

A file has a header row; its first column is the phone, its second the name, and any further
columns are kept as fields under their header names. The separator (``;`` or ``,``) is read
from the header; the file may be UTF-8, with or without a BOM, or cp1251. Phones are
normalised as sends normalise them, so a contact matches the destination of its messages.
Rows are written in chunks of their own transactions, so a big import never holds the write
lock for long; importing a file again only updates it (a phone keeps one contact).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.file_encoding import utf8_or_cp1251
from smsgate.domain.numbering import NumberingRegistry
from smsgate.domain.phone import normalize_phone
from smsgate.domain.text import replace_nul
from smsgate.services.accounts import AdminError, account_of
from smsgate.services.numbering import load_numbering
from smsgate.store import contacts as store
from smsgate.store.contacts import Contact
from smsgate.store.database import Database

CHUNK_ROWS = 5_000
REPORTED_REJECTIONS = 100
# A detailed report gives each field a column of its own: an Excel sheet holds 16,384, 13 of
# them the report's own (``reports.build.report_columns``), and XlsxWriter drops the rest
# without a word.
MAX_CONTACT_FIELDS = 16_000
_READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass(slots=True)
class ImportOutcome:
    imported: int = 0  # distinct phones written
    repeated: int = 0  # rows of a phone an earlier row had: the file's last row of it is kept
    rejected: int = 0
    # The first ``REPORTED_REJECTIONS`` of them.
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < REPORTED_REJECTIONS:
            self.rejections.append(Rejection(line, reason))


def detect_encoding(path: Path) -> str:
    """The file's encoding (``domain.text.utf8_or_cp1251``), read a chunk at a time."""
    with path.open("rb") as file:
        return utf8_or_cp1251(iter(partial(file.read, _READ_SIZE), b""))


class _CountingReader(io.RawIOBase):
    """Counts the bytes read through it, for progress."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.consumed += count
        return int(count)


def _header_names(cells: list[str]) -> list[str]:
    return [
        replace_nul(name.strip()) or f"column {index}" for index, name in enumerate(cells, start=1)
    ]


def _named_twice(names: list[str]) -> str | None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


class _Chunks:
    """A file's valid rows in chunks of ``CHUNK_ROWS`` distinct phones, each with how many of
    its phones no earlier chunk had; invalid rows and repeated phones go to ``outcome``. The
    file's last row of a phone wins, within a chunk and, written later, across chunks."""

    def __init__(
        self, header: list[str], outcome: ImportOutcome, assigned: Callable[[str], bool]
    ) -> None:
        self.header = header
        self.outcome = outcome
        self.assigned = assigned
        # As numbers: a base of millions of phones, held as strings, would cost twice the memory.
        self._seen: set[int] = set()

    def read(self, rows: Iterator[list[str]]) -> Iterator[tuple[list[Contact], int]]:
        chunk: dict[str, Contact] = {}
        new_phones = 0
        for cells in rows:
            contact = self._contact(cells, rows.line_num)  # type: ignore[attr-defined]
            if contact is None:
                continue
            number = int(contact.phone)
            if number in self._seen:
                self.outcome.repeated += 1
            else:
                self._seen.add(number)
                new_phones += 1
            chunk[contact.phone] = contact
            if len(chunk) >= CHUNK_ROWS:
                yield list(chunk.values()), new_phones
                chunk, new_phones = {}, 0
        if chunk:
            yield list(chunk.values()), new_phones

    def _contact(self, cells: list[str], line: int) -> Contact | None:
        if not any(cell.strip() for cell in cells):
            return None
        if len(cells) > len(self.header):
            self.outcome.reject(line, f"{len(cells)} columns, the header has {len(self.header)}")
            return None
        try:
            phone = normalize_phone(cells[0], assigned=self.assigned)
        except InvalidArgument:
            self.outcome.reject(line, f"invalid phone number: {cells[0].strip()}")
            return None
        # PostgreSQL keeps no NUL in text: as incoming texts, it reads U+FFFD.
        name = replace_nul(cells[1].strip()) if len(cells) > 1 else ""
        fields = {
            key: replace_nul(value.strip())
            for key, value in zip(self.header[2:], cells[2:], strict=False)
        }
        return Contact(phone, name, fields)


class ContactAdmin:
    """Contact bases, changed by the platform's operator."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _account_id(self, login: str) -> int:
        return self.database.read_sync(lambda c: account_of(c, login)).id

    def import_file(
        self, login: str, path: Path, on_progress: Callable[[int], None] | None = None
    ) -> ImportOutcome:
        """Import ``path`` into the account's base; ``on_progress`` hears the bytes read."""
        account_id = self._account_id(login)
        try:
            return self._import(account_id, path, on_progress)
        except OSError as error:
            raise AdminError(str(error)) from None

    def _import(
        self, account_id: int, path: Path, on_progress: Callable[[int], None] | None
    ) -> ImportOutcome:
        encoding = detect_encoding(path)
        outcome = ImportOutcome()
        with path.open("rb") as raw:
            counting = _CountingReader(raw)
            try:
                text = io.TextIOWrapper(io.BufferedReader(counting), encoding=encoding, newline="")
                first = text.readline()
                if not first.strip():
                    raise AdminError(f"{path}: no header row")
                separator = ";" if first.count(";") >= first.count(",") else ","
                rows = csv.reader(itertools.chain([first], text), delimiter=separator)
                header = _header_names(next(rows))
                self._check_header(account_id, path, header)
                chunks = _Chunks(header, outcome, self._plan_assigns())
                for chunk, new_phones in chunks.read(rows):
                    self.database.write_sync(
                        partial(store.upsert_contacts, account_id=account_id, rows=chunk)
                    )
                    outcome.imported += new_phones
                    if on_progress is not None:
                        on_progress(counting.consumed)
            except (UnicodeDecodeError, csv.Error) as error:
                # Rows are written a chunk at a time: what came before the error is in the base.
                imported = outcome.imported
                kept = f" ({imported} contacts before it were imported)" if imported else ""
                raise AdminError(f"{path}: {error}{kept}") from None
        return outcome

    def _check_header(self, account_id: int, path: Path, header: list[str]) -> None:
        if len(header) < 2:
            raise AdminError(f"{path}: the header needs a phone and a name column")
        twice = _named_twice(header[2:])
        if twice is not None:
            # One field would hide the other: a contact keeps its fields by name.
            raise AdminError(f"{path}: the header names the field {twice!r} twice")
        if len(header) > 2:
            kept = self.database.read_sync(partial(store.field_names, account_id=account_id))
            fields = len(dict.fromkeys([*kept, *header[2:]]))
            if fields > MAX_CONTACT_FIELDS:
                raise AdminError(
                    f"{path}: the base would have {fields:,} contact fields, and a report "
                    f"holds at most {MAX_CONTACT_FIELDS:,}"
                )

    def _plan_assigns(self) -> Callable[[str], bool]:
        """``normalize_phone``'s fallback, as sends have it: the numbering plan in force, read
        at the first number libphonenumber does not know."""

        @functools.cache
        def registry() -> NumberingRegistry:
            return load_numbering(self.database).registry

        return lambda number: registry().assigns(number)

    def pages(self, login: str, page_size: int = 1000) -> Iterator[list[Contact]]:
        """The account's contacts by phone, a page at a time (an unknown login fails here,
        not at the first page)."""
        return self._pages(self._account_id(login), page_size)

    def _pages(self, account_id: int, page_size: int) -> Iterator[list[Contact]]:
        after: str | None = None
        while True:
            page = self.database.read_sync(
                partial(
                    store.contacts_page, account_id=account_id, after_phone=after, limit=page_size
                )
            )
            if page:
                yield page
            if len(page) < page_size:
                return
            after = page[-1].phone
