"""The numbering registry in force: the packaged files, or the newest import of official files.

Imports are stored in the database (``numbering_imports`` and ``numbering_files``, each file
gzip-compressed byte for byte), not under ``data_dir``:

- every process that reaches the database loads the same registry, API servers on other hosts
  included, with no shared file system to set up;
- one transaction makes an import visible to every process at once or not at all: no files to
  rename, nothing half-written to clean up after a crash;
- the newest import is the one in force, so concurrent imports cannot leave two "active" rows.

The files, not parsed ranges, are kept: each process rebuilds the registry with the same parser
and the subject table of the running version, and the recorded SHA-256 is that of the very bytes
stored. Rebuilding takes about 0.2 s per 17,000 ranges, once per process and import.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.numbering import (
    NumberingError,
    NumberingRegistry,
    NumberingReport,
    build_registry,
    parse_numbering_file,
)
from smsgate.domain.timezones import ZoneDecision, local_to_utc, resolve_zone
from smsgate.periodic import every
from smsgate.services.numbering_data import (
    NUMBERING_FILE,
    load_packaged_registry,
    load_packaged_subject_zones,
    packaged_file,
)
from smsgate.services.sending import DueFor
from smsgate.store import numbering as store
from smsgate.store.database import Database

log = logging.getLogger(__name__)

# Level 6 compresses DEF-9xx.csv (3 MB) to 3% over level 9 in a third of the time.
_GZIP_LEVEL = 6
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A numbering file a registry was built from; ``report.ranges`` is its row count."""

    name: str
    sha256: str
    report: NumberingReport


@dataclass(frozen=True, slots=True)
class Numbering:
    """A registry and where it came from: an import, or the packaged files (``import_id`` None)."""

    registry: NumberingRegistry
    files: tuple[SourceFile, ...]
    import_id: int | None = None
    imported_at: datetime | None = None


def _merged(reports: Sequence[NumberingReport]) -> NumberingReport:
    """One report for several files (mismatch line numbers stay per file in the files' own)."""
    return NumberingReport(
        ranges=sum(report.ranges for report in reports),
        numbers=sum(report.numbers for report in reports),
        zoned_ranges=sum(report.zoned_ranges for report in reports),
        nationwide_ranges=sum(report.nationwide_ranges for report in reports),
        multi_zone_ranges=sum(report.multi_zone_ranges for report in reports),
        no_region_ranges=sum(report.no_region_ranges for report in reports),
        unmapped_ranges=sum(report.unmapped_ranges for report in reports),
        unmapped_subjects=tuple(
            sorted(set(chain.from_iterable(report.unmapped_subjects for report in reports)))
        ),
        capacity_mismatch_lines=tuple(
            chain.from_iterable(report.capacity_mismatch_lines for report in reports)
        ),
    )


def build_numbering(
    files: Sequence[tuple[str, bytes]],
) -> tuple[NumberingRegistry, tuple[NumberingRegistry, ...]]:
    """Parse and validate one or more (name, content) files: one registry of them all, and
    each file's own.

    Raises NumberingError naming the file: unreadable, empty, or with ranges overlapping its
    own or another file's. Subjects without a zone are reported, not rejected.
    """
    subjects = load_packaged_subject_zones()
    registries = []
    for name, content in files:
        try:
            registry = build_registry(parse_numbering_file(content), subjects)
        except NumberingError as error:
            raise NumberingError(f"{name}: {error}") from None
        if not len(registry):
            raise NumberingError(f"{name}: no ranges")
        registries.append(registry)
    if len(registries) == 1:
        return registries[0], tuple(registries)
    try:
        combined = NumberingRegistry(
            chain.from_iterable(registries), _merged([r.report for r in registries])
        )
    except NumberingError as error:
        raise NumberingError(f"the files overlap: {error}") from None
    return combined, tuple(registries)


def _numbering(files: Sequence[tuple[str, bytes]]) -> Numbering:
    combined, registries = build_numbering(files)
    sources = tuple(
        SourceFile(name, hashlib.sha256(content).hexdigest(), registry.report)
        for (name, content), registry in zip(files, registries, strict=True)
    )
    return Numbering(combined, sources)


@cache
def packaged_numbering() -> Numbering:
    """The registry of the packaged files, once per process."""
    content = packaged_file(NUMBERING_FILE)
    registry = load_packaged_registry()
    source = SourceFile(
        NUMBERING_FILE.removesuffix(".gz"), hashlib.sha256(content).hexdigest(), registry.report
    )
    return Numbering(registry, (source,))


def load_numbering(database: Database) -> Numbering:
    """The numbering in force: the newest import, else the packaged files."""

    def read(connection: Connection) -> store.StoredImport | None:
        import_id = store.active_import_id(connection)
        return None if import_id is None else store.read_import(connection, import_id)

    stored = database.read_sync(read)
    if stored is None:
        return packaged_numbering()
    files = [(file.name, gzip.decompress(file.content_gzip)) for file in stored.files]
    return replace(_numbering(files), import_id=stored.id, imported_at=stored.imported_at)


# An import may give a zone to at most this share fewer numbers than the plan in force
# without ``force``: official updates move a few ranges, while a file left out, cut short or
# of an older format (no ``Территория ГАР``) takes thousands of them to the country's zone.
KEPT_ZONED_SHARE = 0.99


def import_files(database: Database, paths: Sequence[Path], *, force: bool = False) -> Numbering:
    """Validate one or more official numbering files and put them in force for every process.

    Raises NumberingError (nothing changes) when they do not validate, or, unless ``force``,
    when they place fewer numbers in a zone than the plan in force; OSError when one cannot
    be read.
    """
    files = [_read_file(path) for path in paths]
    numbering = _numbering(files)
    if not force:
        placed, placed_now = zoned_numbers(numbering), zoned_numbers(load_numbering(database))
        if placed < placed_now * KEPT_ZONED_SHARE:
            raise NumberingError(
                f"these files place {placed:,} numbers in a time zone, the plan in force "
                f"{placed_now:,}: a file left out, cut short or of an older format? "
                "(--force imports them anyway)"
            )
    return _put_in_force(database, numbering, files)


def import_packaged(database: Database) -> Numbering:
    """Put the packaged files back in force, as a new import."""
    files = [(NUMBERING_FILE.removesuffix(".gz"), packaged_file(NUMBERING_FILE))]
    return _put_in_force(database, _numbering(files), files)


def zoned_numbers(numbering: Numbering) -> int:
    """How many numbers the registry places in a time zone."""
    return sum(numbers.capacity for numbers in numbering.registry if numbers.zone is not None)


def _put_in_force(
    database: Database, numbering: Numbering, files: Sequence[tuple[str, bytes]]
) -> Numbering:
    stored = [
        store.StoredFile(
            name=source.name,
            sha256=source.sha256,
            row_count=source.report.ranges,
            content_gzip=gzip.compress(content, compresslevel=_GZIP_LEVEL, mtime=0),
        )
        for source, (_, content) in zip(numbering.files, files, strict=True)
    ]
    imported_at = datetime.now(UTC)
    import_id = database.write_sync(lambda c: store.insert_import(c, imported_at, stored))
    return replace(numbering, import_id=import_id, imported_at=imported_at)


def _read_file(path: Path) -> tuple[str, bytes]:
    """A numbering file's name and content; gzip-compressed (as the package ships it) or not."""
    content = path.read_bytes()
    if content[:2] == _GZIP_MAGIC:
        try:
            return path.name.removesuffix(".gz"), gzip.decompress(content)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise NumberingError(f"{path.name}: not a whole gzip file ({error})") from None
    return path.name, content


def describe(numbering: Numbering) -> dict[str, Any]:
    """What ``smsgate admin numbering status`` shows, as JSON-ready data."""
    return {
        "source": "packaged" if numbering.import_id is None else "imported",
        "import_id": numbering.import_id,
        "imported_at": numbering.imported_at.isoformat() if numbering.imported_at else None,
        "rows": len(numbering.registry),
        "clean": numbering.registry.report.clean,
        "files": [
            {"name": source.name, "sha256": source.sha256, **asdict(source.report)}
            for source in numbering.files
        ],
    }


def lookup(
    numbering: Numbering, number: str, account_zone: str | None, platform_zone: str
) -> dict[str, Any]:
    """What ``smsgate admin numbering lookup`` shows for an international number."""
    found = numbering.registry.find(number)
    decision = resolve_zone(number, numbering.registry, account_zone, platform_zone)
    return {
        "number": number,
        "range": None if found is None else f"7{found.first:010d}..7{found.last:010d}",
        "operator": None if found is None else found.operator,
        "subject": None if found is None else found.territory or None,
        "zone": decision.zone,
        "step": decision.step.value,
    }


def local_times(
    registry: NumberingRegistry, local: datetime, account_zone: str | None, platform_zone: str
) -> DueFor:
    """Each destination's due time for SendByTime: the naive ``local`` read in its zone."""
    # resolve_zone answers one cached ZoneDecision per zone and step, so this stays tiny.
    due_times: dict[ZoneDecision, tuple[datetime, str | None]] = {}

    def due_for(destination: str) -> tuple[datetime, str | None]:
        decision = resolve_zone(destination, registry, account_zone, platform_zone)
        due = due_times.get(decision)
        if due is None:
            try:
                due_at = local_to_utc(local, decision.zone)
            except OverflowError:
                if local.year > 1:
                    raise InvalidArgument(f"Invalid sendDate: {local} is out of range") from None
                # Before year 1 in UTC: long past, so now, as in any zone west of it (.NET
                # clients send DateTime.MinValue, 0001-01-01T00:00:00, for "no date").
                due_at = datetime.min.replace(tzinfo=UTC)
            due = due_times[decision] = (due_at, decision.step.value)
        return due

    return due_for


class NumberingService:
    """The numbering this process uses, reloaded within a poll interval of a new import."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._numbering: Numbering | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> Numbering:
        """The numbering in force, loaded on first use."""
        return self._numbering or await self.refresh()

    async def refresh(self) -> Numbering:
        """Load the numbering in force unless it is the one loaded."""
        async with self._lock:
            active = await self.database.lookup(store.active_import_id)
            if self._numbering is None or self._numbering.import_id != active:
                # Parsing takes a fraction of a second: off the event loop.
                self._numbering = await asyncio.to_thread(load_numbering, self.database)
            return self._numbering

    async def watch(self, interval: float) -> None:
        """Poll for a new import forever."""
        failure = "loading the numbering registry failed"
        await every(interval, self.refresh, log=log, failure=failure)
