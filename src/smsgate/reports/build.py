"""Writing the file of one report.

The builder runs ``run_job`` in a process of its own, forked from a server that has this module
loaded already (``multiprocessing``'s forkserver), so a build starts in milliseconds: a large
report is seconds to minutes of pure-Python work that would otherwise hold the GIL against the
server's event loop, and the memory it touches goes back to the system when the process ends.
"""

from __future__ import annotations

import errno
import os
import select
import threading
from collections.abc import Sequence
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from smsgate.garbage_collection import collect_rarely
from smsgate.reports.writers import Column, Kind, ReportWriter, open_writer
from smsgate.services.reports import ReportOrder
from smsgate.store import contacts as contact_store
from smsgate.store import reports as store
from smsgate.store.database import Database
from smsgate.store.reports import ListedPart, MessageSelection
from smsgate.store.schema import kept_error

REPORT_FILE = "report"


def report_columns(zone: str, field_names: Sequence[str] | None) -> list[Column]:
    """The report's columns; ``field_names`` adds the contact's name and those fields."""
    columns = [
        Column("Message ID", Kind.NUMBER, 12),
        Column(f"Created ({zone})", Kind.TIME, 20),
        Column(f"Sent ({zone})", Kind.TIME, 20),
        Column("Sender", Kind.TEXT, 14),
        Column("Destination", Kind.TEXT, 16),
        Column("Text", Kind.TEXT, 40),
        Column("Parts", Kind.NUMBER, 6),
        Column("State", Kind.NUMBER, 6),
        Column("State description", Kind.TEXT, 14),
        Column(f"Reported ({zone})", Kind.TIME, 20),
        Column("Price", Kind.MONEY, 8),
        Column("Login", Kind.TEXT, 16),
    ]
    if field_names is not None:
        columns.append(Column("Contact name", Kind.TEXT, 20))
        columns.extend(Column(name, Kind.TEXT, 14) for name in field_names)
    return columns


def _cells(
    page: list[ListedPart],
    writer: ReportWriter,
    logins: dict[int, str],
    field_names: Sequence[str] | None,
) -> list[tuple[Any, ...]]:
    time, amount = writer.time, writer.amount
    rows = [
        (
            part[0],
            time(part[1]),
            time(part[2]),
            part[3],
            part[4],
            part[5],
            part[6],
            part[7].api_code,
            part[7].api_description,
            time(part[8]),
            amount(part[9]),
            logins[part[10]],
        )
        for part in page
    ]
    if field_names is None:
        return rows
    return [
        (*row, part[11], *((part[12] or {}).get(name) for name in field_names))
        for row, part in zip(rows, page, strict=True)
    ]


def build_report(database: Database, account_id: int, order: ReportOrder, workdir: Path) -> int:
    """Write the report ``account_id`` ordered to ``workdir/report.<format>``; its row count.

    The parts are read a page at a time, each page in a read of its own (see
    ``store.parts_page``): a part is listed once, in the state it had when its page was read.
    """

    def scope(connection: Any) -> tuple[MessageSelection, dict[int, str], list[str] | None]:
        accounts = [account_id]
        if order.sub_accounts:
            accounts.extend(store.descendants(connection, account_id))
        logins = store.logins(connection, accounts)
        field_names = contact_store.field_names(connection, account_id) if order.contacts else None
        selection = MessageSelection(
            account_ids=tuple(accounts),
            start=order.start,
            end=order.end,
            states=order.states,
            destination=order.phone,
            sender_name=order.sender_name,
            contacts_of=account_id if order.contacts else None,
        )
        return selection, logins, field_names

    selection, logins, field_names = database.read_sync(scope)
    path = report_path(workdir, order)
    writer = open_writer(order.format, path, report_columns(order.zone, field_names), workdir)
    rows = 0
    after: store.PageEnd | None = None
    try:
        while True:
            page, after = database.read_sync(
                partial(store.parts_page, selection=selection, zone=order.zone, after=after)
            )
            if not page:
                break
            writer.write(_cells(page, writer, logins, field_names))
            rows += len(page)
    finally:
        writer.close()
    return rows


def report_path(workdir: Path, order: ReportOrder) -> Path:
    return workdir / f"{REPORT_FILE}.{order.format.value}"


# The folder cannot take the file now (full, over quota, read-only, failing): a build later may.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def out_of_room(error: BaseException) -> bool:
    """Whether ``error`` is the reports folder's trouble, not the build's."""
    return isinstance(error, OSError) and error.errno in _NO_ROOM


def run_job(
    database_url: str,
    account_id: int,
    order: ReportOrder,
    workdir: Path,
    answer: Connection,
    *,
    transaction_pooling: bool = False,
) -> None:
    """The build process: ``build_and_answer``, ended at once if the server goes first."""
    _end_with_the_server(answer)
    # A build allocates millions of short-lived tuples and no cycles: left as they are, the
    # collector's passes (over every object of the loaded modules too) take a fifth of it.
    collect_rarely()
    database = Database(database_url, read_threads=1, transaction_pooling=transaction_pooling)
    try:
        build_and_answer(database, account_id, order, workdir, answer)
    finally:
        database.close()


def build_and_answer(
    database: Database, account_id: int, order: ReportOrder, workdir: Path, answer: Connection
) -> None:
    """Write the report and send ``("built", rows)`` on ``answer``; or ``("no room", reason)``
    when the folder cannot take it now; or ``("failed", reason)`` and raise (the traceback
    goes to the server's log)."""
    try:
        rows = build_report(database, account_id, order, workdir)
    except Exception as error:
        # Cut to what the report keeps: a pipe holds 64 KiB until read, and the server reads
        # it once this process ended, so a longer reason (a database error quoting its SQL with
        # thousands of ids) blocked the build for good.
        reason = kept_error(f"{type(error).__name__}: {error}")
        if out_of_room(error):
            answer.send(("no room", reason))
            return
        answer.send(("failed", reason))
        raise
    answer.send(("built", rows))


def _end_with_the_server(answer: Connection) -> None:
    """Exit as soon as the server that started this build is gone, killed outright included.

    Nothing else would end the build: its process is the fork server's child, not the
    server's, and it went on for minutes, holding a database connection, for a report whose
    lease then lapses and which another builder claims. Only the server holds the read end of
    ``answer``, which the system closes when the server ends: the write end then polls as an
    error. The server itself reads it only after this process has ended.
    """

    def watch() -> None:
        server = select.poll()
        server.register(answer.fileno(), 0)  # errors and hang-ups are always reported
        server.poll()
        os._exit(1)

    threading.Thread(target=watch, name="smsgate-report-server-watch", daemon=True).start()
