"""Queries on imported numbering plan files (``numbering_imports``, ``numbering_files``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from smsgate.store.schema import numbering_files, numbering_imports


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file of an import: its name, the SHA-256 and row count of its content, and the
    content gzip-compressed."""

    name: str
    sha256: str
    row_count: int
    content_gzip: bytes


@dataclass(frozen=True, slots=True)
class StoredImport:
    id: int
    imported_at: datetime
    row_count: int
    files: tuple[StoredFile, ...]


def insert_import(
    connection: Connection, imported_at: datetime, files: Sequence[StoredFile]
) -> int:
    """Record an import and its files; it is in force once the transaction commits."""
    import_id = connection.execute(
        insert(numbering_imports)
        .values(imported_at=imported_at, row_count=sum(file.row_count for file in files))
        .returning(numbering_imports.c.id)
    ).scalar_one()
    connection.execute(
        insert(numbering_files),
        [
            {
                "import_id": import_id,
                "position": position,
                "name": file.name,
                "sha256": file.sha256,
                "row_count": file.row_count,
                "content_gzip": file.content_gzip,
            }
            for position, file in enumerate(files)
        ],
    )
    return int(import_id)


def active_import_id(connection: Connection) -> int | None:
    """The id of the import in force (the newest), or None when nothing was imported."""
    found = connection.execute(select(func.max(numbering_imports.c.id))).scalar()
    return None if found is None else int(found)


def read_import(connection: Connection, import_id: int) -> StoredImport:
    """An import with its files in the order they were given."""
    imported_at, row_count = connection.execute(
        select(numbering_imports.c.imported_at, numbering_imports.c.row_count).where(
            numbering_imports.c.id == import_id
        )
    ).one()
    files = connection.execute(
        select(
            numbering_files.c.name,
            numbering_files.c.sha256,
            numbering_files.c.row_count,
            numbering_files.c.content_gzip,
        )
        .where(numbering_files.c.import_id == import_id)
        .order_by(numbering_files.c.position)
    )
    return StoredImport(
        id=import_id,
        imported_at=imported_at,
        row_count=row_count,
        files=tuple(StoredFile(*row) for row in files),
    )
