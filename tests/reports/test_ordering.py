"""Ordering and downloading reports: the guide's errors, the limit of two building at once,
who may download, retention, and a server dying mid-build."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from smsgate.store.schema import reports
from tests.api.helpers import Deployment, assert_error, assert_ok, creds, wait_for
from tests.conftest import Account
from tests.reports.conftest import BUILD_DELAY
from tests.reports.helpers import (
    ALL_STAT,
    CSV_TYPE,
    Seed,
    csv_rows,
    fetch,
    order,
    period,
    ready,
    seed,
)

TOO_MANY = "More than 2 reports at once are not allowed, make request later"
# Short, so that a report a dead server held is claimed again within the test.
REPORT_LEASE_SECONDS = 3


def ordering(account: Account, **params: str) -> httpx.Response:
    return account.client.post(ALL_STAT, data={**creds(account), **params})


@pytest.mark.parametrize(
    ("params", "code", "desc"),
    [
        (
            {"endTime": "2025-03-10T00:00:00"},
            1,
            "StartDateTime can not be null or empty\r\nParameter name: startDateTime",
        ),
        (
            {"startTime": "2025-03-10T00:00:00"},
            1,
            "EndDateTime can not be null or empty\r\nParameter name: endDateTime",
        ),
        ({**period(), "startTime": "10.03.2025"}, 2, "Not correct format startTime"),
        ({**period(), "endTime": "2025-03-32T00:00:00"}, 2, "Not correct format endTime"),
        ({**period(), "phone": "7900123456a"}, 2, "Phone must be numeric"),
        ({**period(), "phone": "123456"}, 2, "Not correct length phone"),
        ({**period(), "phone": "7900123456712345"}, 2, "Not correct length phone"),
        ({**period(), "originator": "Twelve chars"}, 2, "Not correct length originator"),
        ({**period(), "originator": "1" * 16}, 2, "Not correct length originator"),
        # Arabic-Indic digits are no sender name of digits (those are ASCII): 14 of them are
        # over the 11 letters a name of any other kind may have.
        ({**period(), "originator": "\u0663" * 14}, 2, "Not correct length originator"),
        # PostgreSQL's text cannot hold it: the build would fail, the order is refused.
        (
            {**period(), "originator": "a\x00b"},
            2,
            "originator contains the character U+0000 (NUL), which is not allowed",
        ),
        ({**period(), "state": "lost"}, 2, "Bad Request"),
        ({**period(), "type_load": "2"}, 2, "Bad Request"),
        ({**period(), "c_base": "yes"}, 2, "Bad Request"),
        ({**period(), "sub_stat": "2"}, 2, "Bad Request"),
        ({**period(60, 0)}, 2, "Bad Request"),
    ],
)
def test_bad_orders_answer_the_guides_errors(
    reports_server: Deployment, params: dict[str, str], code: int, desc: str
) -> None:
    account = reports_server.make_account()
    assert_error(ordering(account, **params), code, desc)


def test_an_order_answers_the_report_id_as_a_number(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    first = assert_ok(ordering(account, **period()))
    response = ordering(account, **period(), sessionId=account.session_id())
    assert response.text == str(first + 1)


def test_an_expired_session_answers_the_guides_text(late_server: Deployment) -> None:
    account = late_server.make_account()
    session_id = account.session_id()
    time.sleep(1.2)
    response = account.client.post(ALL_STAT, data={"sessionId": session_id, **period()})
    assert_error(response, 4, "SessionID expired")


def test_a_third_report_while_two_build_is_refused(late_server: Deployment) -> None:
    account = late_server.make_account()
    seed(late_server.database, account, [Seed(minutes=1)])
    first, second = order(account), order(account, type_load="1")
    assert_error(ordering(account, **period()), 6, TOO_MANY)
    # another account is not held back by this one's reports
    order(late_server.make_account())
    for report_id in (first, second):
        assert_error(fetch(account, report_id), 6, "Report is not ready yet")
    ready(account, first)
    ready(account, second)
    order(account)


def test_orders_past_the_rows_kept_are_refused_until_files_go(
    spawn: Callable[..., Deployment],
) -> None:
    """80 orders of one report in 20 s wrote 185 MB, kept a week."""
    deployment = spawn(
        report_rows_kept="3", report_retention_seconds="4", report_sweep_seconds="0.1"
    )
    account = deployment.make_account()
    seed(deployment.database, account, [Seed(minutes=1), Seed(minutes=2)])
    for _ in range(2):  # 2 rows kept, then 4
        ready(account, order(account))
    refused = "Reports of more than 3 rows are kept, make request later"
    assert_error(ordering(account, **period()), 6, refused)
    order(deployment.make_account())  # another account is not held back by this one's files
    # Past their retention the files go, and so does the refusal.
    wait_for(lambda: ordering(account, **period()).status_code == 200, timeout=20)


def test_a_download_sends_the_file_as_an_attachment(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    report_id = order(account)
    response = ready(account, report_id)
    assert response.headers["content-type"] == CSV_TYPE
    assert response.headers["content-disposition"] == (
        f'attachment; filename="report-{report_id}.csv"'
    )
    assert int(response.headers["content-length"]) == len(response.content)
    assert csv_rows(response)[1:] == []


def test_only_the_orderer_and_its_parents_may_download(reports_server: Deployment) -> None:
    parent = reports_server.make_account()
    child = reports_server.make_account(parent=parent.login)
    grandchild = reports_server.make_account(parent=child.login)
    sibling = reports_server.make_account(parent=parent.login)
    stranger = reports_server.make_account()
    report_id = order(grandchild)
    expected = ready(grandchild, report_id).content
    for reader in (child, parent):
        assert fetch(reader, report_id).content == expected
    parents_report = order(parent)
    ready(parent, parents_report)
    for outsider, foreign_id in [
        (sibling, report_id),
        (stranger, report_id),
        (child, parents_report),
        (grandchild, parents_report),
    ]:
        assert_error(fetch(outsider, foreign_id), 2, "Id report not found")
    for unknown in ("999999999", "abc", "-1"):
        assert_error(fetch(parent, unknown), 2, "Id report not found")


def test_reports_past_retention_answer_file_not_exist(forgetful_server: Deployment) -> None:
    account = forgetful_server.make_account()
    report_id = order(account)
    ready(account, report_id)
    deadline = time.monotonic() + 10
    while fetch(account, report_id).status_code == 200:
        assert time.monotonic() < deadline, "the report outlived its retention"
        time.sleep(0.1)
    assert_error(fetch(account, report_id), 6, "File not exist")
    assert status(forgetful_server, report_id) == "expired"  # its file goes a minute later


def test_a_failed_build_answers_file_not_exist(late_server: Deployment) -> None:
    account = late_server.make_account()
    report_id = order(account)
    # A folder where the file must go: the build cannot put its file in place.
    (late_server.process.workdir / "var" / "reports" / f"{report_id}.1.csv").mkdir(parents=True)
    deadline = time.monotonic() + BUILD_DELAY + 15
    while status(late_server, report_id) == "building":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status(late_server, report_id) == "failed"
    assert_error(fetch(account, report_id), 6, "File not exist")
    order(account)  # a failed report no longer counts as building


def status(deployment: Deployment, report_id: int) -> str:
    query = reports.select().with_only_columns(reports.c.status).where(reports.c.id == report_id)
    return str(deployment.database.read_sync(lambda c: c.execute(query).scalar_one()))


def test_a_report_left_building_by_a_dead_server_is_built_after_restart(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(
        report_start_delay_seconds="30", report_lease_seconds=str(REPORT_LEASE_SECONDS)
    )
    account = deployment.make_account()
    seed(deployment.database, account, [Seed(minutes=1)])
    report_id = order(account)
    held = select(reports.c.lease_until).where(reports.c.id == report_id)
    # claimed by the builder, and waiting to start
    wait_for(lambda: deployment.database.read_sync(lambda c: c.scalar(held)) is not None)
    deployment.process.kill()
    deployment.process.settings["report_start_delay_seconds"] = "0"
    deployment.process.start()
    # On SQLite the lease is released at start; on PostgreSQL, where other processes may build
    # too, it runs out first.
    built = ready(account, report_id, timeout=REPORT_LEASE_SECONDS + 20)
    header, (message_id, *_) = csv_rows(built)
    assert header[0] == "Message ID" and message_id.isdigit()
    assert status(deployment, report_id) == "ready"


def test_report_files_go_to_the_reports_folder_the_settings_name(
    spawn: Callable[..., Deployment], tmp_path: Path
) -> None:
    """A folder apart from the data folder: the one all hosts share when API processes and
    workers run on different hosts (each host keeps its own data folder)."""
    shared = tmp_path / "shared-reports"
    deployment = spawn(reports_dir=str(shared))
    account = deployment.make_account()
    seed(deployment.database, account, [Seed(minutes=1)])
    report_id = order(account)
    download = ready(account, report_id)
    files = [path.read_bytes() for path in shared.iterdir() if path.is_file()]
    assert files == [download.content]
    assert not (deployment.process.workdir / "var" / "reports").exists()
