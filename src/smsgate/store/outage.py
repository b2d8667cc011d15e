"""Telling a database that cannot serve now (down, unreachable, out of disk, locked past the
wait, read-only) from a fault of the work itself."""

from __future__ import annotations

import sqlite3

_REASON_LENGTH = 200


def unavailable(error: BaseException) -> str | None:
    """The database's reason, on one line, when ``error`` says it cannot serve now; None for
    anything else (a fault of the work, whose traceback is wanted)."""
    driver_error = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's
    if not _says_unavailable(driver_error):
        return None
    reason = " ".join(str(driver_error).split())[:_REASON_LENGTH]
    return f"{type(driver_error).__name__}: {reason}"


def _says_unavailable(driver_error: BaseException) -> bool:
    # The drivers' own errors for a database that cannot serve: SQLite's OperationalError is its
    # lock, disk and I/O errors; psycopg's covers lost connections, shutdowns and lock timeouts.
    if isinstance(driver_error, sqlite3.OperationalError):
        return True
    if not type(driver_error).__module__.startswith("psycopg"):
        return False
    import psycopg  # loaded already, having raised it; a SQLite platform never loads it

    return isinstance(
        driver_error, (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction)
    )
