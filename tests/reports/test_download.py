"""Downloading a report while the sweeper deletes its file (no server needed): the file found
is the file sent, whole, and one already gone answers "File not exist"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message

from smsgate.api.rest.reports import FileAnswer
from smsgate.api.rest.router import FILE_CHUNK, send_file
from smsgate.domain.errors import InvalidOperation
from smsgate.services import reports
from smsgate.services.accounts import AccountAdmin
from smsgate.store import reports as store
from smsgate.store.database import Database

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
# More than two chunks, so the file is read well after it was deleted.
CONTENT = b"".join(b"%d;79001234567;Delivered\r\n" % row for row in range(10_000))


def ready_report(database: Database, reports_dir: Path) -> tuple[int, int, Path]:
    """(account id, report id, its file) of a report built as ``CONTENT``."""
    account_id = AccountAdmin(database).create("owner", password="x", balance=Decimal(0))

    def build(connection: Any) -> int:
        report_id = store.insert_report(connection, account_id, {"format": "csv"}, NOW)
        claimed = store.claim_report(connection, NOW, NOW, 3)
        assert claimed is not None and claimed.id == report_id
        assert store.finish_report(connection, report_id, 1, f"{report_id}.csv", 1, NOW)
        return report_id

    report_id = database.write_sync(build)
    path = reports_dir / f"{report_id}.csv"
    path.write_bytes(CONTENT)
    return account_id, report_id, path


def test_a_file_swept_after_it_was_found_is_still_sent_whole(
    database: Database, tmp_path: Path
) -> None:
    assert len(CONTENT) > 2 * FILE_CHUNK
    account_id, report_id, path = ready_report(database, tmp_path)
    messages: list[Message] = []

    async def download() -> None:
        found = await reports.report_file(database, account_id, report_id, tmp_path)
        path.unlink()  # the sweeper, between the look-up and the sending

        async def receive() -> Message:
            await asyncio.Event().wait()  # the client never goes away
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            messages.append(message)

        answer = FileAnswer(found.content, found.size, "text/csv", found.download_name)
        with found.content:
            await send_file(answer, {"type": "http", "method": "GET"}, receive, send)

    asyncio.run(download())
    start, *body = messages
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-length"] == str(len(CONTENT)).encode()
    assert (
        headers[b"content-disposition"] == f'attachment; filename="report-{report_id}.csv"'.encode()
    )
    assert b"".join(message.get("body", b"") for message in body) == CONTENT
    assert not body[-1].get("more_body", False)


def test_a_file_gone_before_it_is_found_answers_file_not_exist(
    database: Database, tmp_path: Path
) -> None:
    account_id, report_id, path = ready_report(database, tmp_path)
    path.unlink()
    with pytest.raises(InvalidOperation, match=reports.NO_FILE):
        asyncio.run(reports.report_file(database, account_id, report_id, tmp_path))
