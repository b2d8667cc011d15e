"""Telling a database that cannot serve now (down, unreachable, out of disk, locked past the
wait, read-only) from a fault of the work itself."""

from __future__ import annotations

import sqlite3

_REASON_LENGTH = 200


def driver_error(error: BaseException) -> BaseException:
    """The driver's own error: SQLAlchemy's wraps it."""
    return getattr(error, "orig", None) or error


def driver_reason(error: BaseException) -> str:
    """The driver's reason, on one line: SQLAlchemy's own text adds the statement and its
    parameters (a password's hash, say)."""
    return " ".join(str(driver_error(error)).split())


def unavailable(error: BaseException) -> str | None:
    """The database's reason, on one line, when ``error`` says it cannot serve now; None for
    anything else (a fault of the work, whose traceback is wanted)."""
    driver = driver_error(error)
    if not _says_unavailable(driver):
        return None
    return f"{type(driver).__name__}: {driver_reason(driver)[:_REASON_LENGTH]}"


def unavailable_to_all(error: BaseException) -> str | None:
    """``unavailable``, but None for a wait past a PostgreSQL lock: that lock holds one row or
    table, and the database serves every other write (SQLite's lock is the whole database's)."""
    reason = unavailable(error)
    driver = driver_error(error)
    if reason is None or not type(driver).__module__.startswith("psycopg"):
        return reason
    import psycopg  # loaded already, having raised it

    waited = (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)
    return None if isinstance(driver, waited) else reason


def _says_unavailable(error: BaseException) -> bool:
    # The drivers' own errors for a database that cannot serve: SQLite's OperationalError is its
    # lock, disk and I/O errors; psycopg's covers lost connections, shutdowns and lock timeouts.
    if isinstance(error, sqlite3.OperationalError):
        return True
    if not type(error).__module__.startswith("psycopg"):
        return False
    import psycopg  # loaded already, having raised it; a SQLite platform never loads it

    return isinstance(error, (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction))
