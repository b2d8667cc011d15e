"""``smsgate admin numbering import|status|lookup`` and ``account timezone``, run as commands."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from smsgate.cli import app
from smsgate.domain.numbering import NumberingRegistry
from smsgate.services.accounts import AccountAdmin
from smsgate.services.numbering_data import NUMBERING_FILE, packaged_file
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from tests.api.helpers import SENDER, Deployment, assert_ok, creds, message_rows
from tests.numbering.helpers import number_in

VLADIVOSTOK = "79241234567"  # in 79241200000..79241399999, Приморский край
AUSTRALIAN = "61412345678"  # no zone from the number: the account's or the platform's
NumberingFile = Callable[..., Path]
OFFICIAL_IMPORTED = "imported #1: 17,059 ranges, 706,336,020 numbers in a time zone"


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    crashed: bool  # ended by an unexpected exception


Runner = Callable[..., Outcome]


def in_process(database_url: str, *args: str, **settings: str) -> Outcome:
    """``smsgate admin ARGS`` in this process: a fraction of the 2 s a new one takes to start."""
    env = {f"SMSGATE_{name.upper()}": value for name, value in settings.items()}
    result = CliRunner().invoke(
        app, ["admin", *args], env={**env, "SMSGATE_DATABASE_URL": database_url}
    )
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.stdout, result.stderr, crashed)


def as_command(database_url: str, *args: str) -> Outcome:
    """``python -m smsgate admin ARGS`` as an operator runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "smsgate", "admin", *args],
        env={**os.environ, "SMSGATE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    crashed = "Traceback" in result.stderr + result.stdout
    return Outcome(result.returncode, result.stdout, result.stderr, crashed)


def succeeds(database_url: str, *args: str, run: Runner = in_process) -> str:
    outcome = run(database_url, *args)
    assert (outcome.exit_code, outcome.crashed) == (0, False), outcome
    return outcome.stdout


def fails(database_url: str, *args: str, run: Runner = in_process) -> str:
    """The one error line of a command that must fail, and fail cleanly."""
    outcome = run(database_url, *args)
    assert outcome.exit_code != 0 and not outcome.crashed, outcome
    [line] = outcome.stderr.splitlines()
    assert line.startswith("error: "), line
    return line


def status(database_url: str) -> dict[str, Any]:
    shown = json.loads(succeeds(database_url, "numbering", "status"))
    assert isinstance(shown, dict)
    return shown


def lookup(database_url: str, *args: str) -> dict[str, Any]:
    found = json.loads(succeeds(database_url, "numbering", "lookup", *args))
    assert isinstance(found, dict)
    return found


def test_without_an_import_the_packaged_registry_is_in_force(database_url: str) -> None:
    shown = status(database_url)
    packaged = hashlib.sha256(packaged_file(NUMBERING_FILE)).hexdigest()
    assert shown["source"] == "packaged"
    assert (shown["import_id"], shown["imported_at"], shown["rows"]) == (None, None, 17_059)
    assert shown["clean"] is True
    [file] = shown["files"]
    assert (file["name"], file["sha256"], file["ranges"]) == ("DEF-9xx.csv", packaged, 17_059)
    assert (file["nationwide_ranges"], file["unmapped_subjects"]) == (37, [])


def test_import_of_the_official_file_records_its_sha256_rows_and_date(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "DEF-9xx.csv"
    path.write_bytes(packaged_file(NUMBERING_FILE))
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    before = datetime.now(UTC)
    output = succeeds(database_url, "numbering", "import", str(path)).splitlines()
    assert output == [OFFICIAL_IMPORTED, f"  DEF-9xx.csv: 17,059 rows, sha256 {sha256}"]
    shown = status(database_url)
    assert (shown["source"], shown["import_id"], shown["rows"]) == ("imported", 1, 17_059)
    assert before <= datetime.fromisoformat(shown["imported_at"]) <= datetime.now(UTC)
    [file] = shown["files"]
    assert (file["name"], file["sha256"], file["ranges"]) == ("DEF-9xx.csv", sha256, 17_059)


def test_a_gzip_compressed_file_imports_as_its_content(database_url: str, tmp_path: Path) -> None:
    # The package ships its file compressed; an operator may import that one, or a download.
    content = packaged_file(NUMBERING_FILE)
    path = tmp_path / "DEF-9xx.csv.gz"
    path.write_bytes(gzip.compress(content))
    sha256 = hashlib.sha256(content).hexdigest()
    output = succeeds(database_url, "numbering", "import", str(path)).splitlines()
    assert output == [OFFICIAL_IMPORTED, f"  DEF-9xx.csv: 17,059 rows, sha256 {sha256}"]


def test_several_files_in_utf8_and_cp1251_import_as_one_registry(
    database_url: str, numbering_file: NumberingFile
) -> None:
    mobile = numbering_file("DEF-9xx.csv", [(924, 1_200_000, 1_399_999, "Камчатский край")])
    fixed = numbering_file(
        "ABC-4xx.csv", [(423, 2_000_000, 2_999_999, "Приморский край")], encoding="cp1251"
    )
    succeeds(database_url, "numbering", "import", "--force", str(mobile), str(fixed))
    shown = status(database_url)
    assert shown["rows"] == 2
    assert [(f["name"], f["ranges"]) for f in shown["files"]] == [
        ("DEF-9xx.csv", 1),
        ("ABC-4xx.csv", 1),
    ]
    assert lookup(database_url, "74232123456") == {
        "number": "74232123456",
        "range": "74232000000..74232999999",
        "operator": 'ООО "Тест"',
        "subject": "Приморский край",
        "zone": "Asia/Vladivostok",
        "step": "registry",
    }
    assert lookup(database_url, VLADIVOSTOK)["zone"] == "Asia/Kamchatka"


def test_overlapping_files_are_rejected_and_the_import_in_force_kept(
    database_url: str, numbering_file: NumberingFile
) -> None:
    good = numbering_file("good.csv", [(924, 1_200_000, 1_399_999, "Приморский край")])
    succeeds(database_url, "numbering", "import", "--force", str(good))
    kept = status(database_url)
    overlapping = numbering_file(
        "overlap.csv",
        [
            (924, 1_200_000, 1_299_999, "Приморский край"),
            (924, 1_299_990, 1_399_999, "Приморский край"),
        ],
    )
    line = fails(database_url, "numbering", "import", str(overlapping), run=as_command)
    assert line.startswith("error: overlap.csv: 1 overlapping ranges: 79241200000..79241299999")
    other = numbering_file("other.csv", [(924, 1_300_000, 1_300_000, "Город Москва")])
    line = fails(database_url, "numbering", "import", str(good), str(other), run=as_command)
    assert line.startswith("error: the files overlap: 1 overlapping ranges")
    assert status(database_url) == kept
    assert lookup(database_url, VLADIVOSTOK)["zone"] == "Asia/Vladivostok"


def test_files_placing_fewer_numbers_in_a_zone_are_refused_unless_forced(
    database_url: str, numbering_file: NumberingFile
) -> None:
    """Files replace the plan in force: one left out, cut short or of an older format would
    take thousands of numbers to the country's zone (Moscow), and their messages off time."""
    part = numbering_file(
        "DEF-9xx.csv",
        [
            (924, 1_200_000, 1_399_999, "Калининградская область"),
            (924, 1_400_000, 1_499_999, "-"),
            (924, 1_500_000, 1_599_999, "Калининградская область, Камчатский край"),
        ],
    )
    line = fails(database_url, "numbering", "import", str(part), run=as_command)
    assert line == (
        "error: these files place 200,000 numbers in a time zone, the plan in force "
        "706,336,020: a file left out, cut short or of an older format? "
        "(--force imports them anyway)"
    )
    assert status(database_url)["source"] == "packaged"
    output = succeeds(database_url, "numbering", "import", "--force", str(part)).splitlines()
    assert output[0] == "imported #1: 3 ranges, 200,000 numbers in a time zone"
    assert output[2:] == [
        "warning: 1 ranges name no region: they fall back",
        "warning: 1 ranges span several time zones: they fall back",
    ]
    assert lookup(database_url, VLADIVOSTOK)["zone"] == "Europe/Kaliningrad"


def test_reset_puts_the_packaged_plan_back_in_force(
    database_url: str, numbering_file: NumberingFile
) -> None:
    part = numbering_file("part.csv", [(924, 1_200_000, 1_399_999, "Калининградская область")])
    succeeds(database_url, "numbering", "import", "--force", str(part))
    output = succeeds(database_url, "numbering", "reset").splitlines()
    packaged = hashlib.sha256(packaged_file(NUMBERING_FILE)).hexdigest()
    assert output == [
        OFFICIAL_IMPORTED.replace("#1", "#2"),
        f"  DEF-9xx.csv: 17,059 rows, sha256 {packaged}",
    ]
    assert lookup(database_url, VLADIVOSTOK)["zone"] == "Asia/Vladivostok"


def test_unreadable_files_are_rejected(
    database_url: str, numbering_file: NumberingFile, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.csv"
    assert "No such file or directory" in fails(database_url, "numbering", "import", str(missing))
    empty = numbering_file("empty.csv", [])
    assert fails(database_url, "numbering", "import", str(empty)) == "error: empty.csv: no ranges"
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\x00 not a numbering file")
    assert "garbage.csv: header" in fails(database_url, "numbering", "import", str(garbage))
    assert status(database_url)["source"] == "packaged"


def test_subjects_without_a_zone_are_listed_and_their_numbers_fall_back(
    database_url: str, numbering_file: NumberingFile
) -> None:
    mars = numbering_file("mars.csv", [(924, 1_200_000, 1_399_999, "Марсианская область")])
    moon = numbering_file(
        "moon.csv",
        [(423, 2_000_000, 2_999_999, "Лунный край"), (423, 3_000_000, 3_999_999, "Город Москва")],
    )
    output = succeeds(
        database_url, "numbering", "import", "--force", str(mars), str(moon)
    ).splitlines()
    assert output[-1] == (
        "warning: 2 subjects have no time zone, their numbers fall back: "
        "Лунный край; Марсианская область"
    )
    shown = status(database_url)
    assert shown["clean"] is False
    assert [file["unmapped_subjects"] for file in shown["files"]] == [
        ["Марсианская область"],
        ["Лунный край"],
    ]
    assert [file["unmapped_ranges"] for file in shown["files"]] == [1, 1]
    found = lookup(database_url, VLADIVOSTOK)
    assert (found["subject"], found["zone"], found["step"]) == (
        "Марсианская область",
        "Europe/Moscow",
        "country",
    )


def test_lookup_prints_range_operator_subject_zone_and_step(
    database_url: str, registry: NumberingRegistry
) -> None:
    number = number_in(registry, "Приморский край")
    found = registry.find(number)
    assert found is not None
    assert lookup(database_url, f"+{number[0]} ({number[1:4]}) {number[4:]}") == {
        "number": number,
        "range": f"7{found.first}..7{found.last}",
        "operator": found.operator,
        "subject": "Приморский край",
        "zone": "Asia/Vladivostok",
        "step": "registry",
    }
    assert lookup(database_url, AUSTRALIAN) == {
        "number": AUSTRALIAN,
        "range": None,
        "operator": None,
        "subject": None,
        "zone": "Europe/Moscow",
        "step": "platform",
    }
    assert fails(database_url, "numbering", "lookup", "12") == "error: Invalid phone number: 12"


def test_the_platform_zone_setting_is_the_last_step(database_url: str) -> None:
    in_omsk = partial(in_process, default_timezone="Asia/Omsk")
    found = json.loads(succeeds(database_url, "numbering", "lookup", AUSTRALIAN, run=in_omsk))
    assert (found["zone"], found["step"]) == ("Asia/Omsk", "platform")
    on_mars = partial(in_process, default_timezone="Mars/Olympus")
    assert fails(database_url, "numbering", "lookup", AUSTRALIAN, run=on_mars) == (
        "error: setting default_timezone: unknown time zone: Mars/Olympus"
    )


def test_account_timezone_is_set_checked_shown_and_cleared(database_url: str) -> None:
    database = Database(database_url)
    upgrade(database.write_engine)
    AccountAdmin(database).create("zoned", password="secret")
    database.close()
    assert succeeds(database_url, "account", "timezone", "zoned", "Asia/Omsk") == (
        "zoned: zone Asia/Omsk\n"
    )
    assert json.loads(succeeds(database_url, "account", "show", "zoned"))["timezone"] == "Asia/Omsk"
    found = lookup(database_url, AUSTRALIAN, "--login", "zoned")
    assert (found["zone"], found["step"], found["account_zone"]) == (
        "Asia/Omsk",
        "account",
        "Asia/Omsk",
    )
    assert lookup(database_url, VLADIVOSTOK, "--login", "zoned")["step"] == "registry"
    line = fails(database_url, "account", "timezone", "zoned", "Mars/Olympus")
    assert line == "error: unknown time zone: Mars/Olympus"
    assert fails(database_url, "account", "timezone", "nobody", "UTC") == (
        "error: no such account: nobody"
    )
    assert fails(database_url, "numbering", "lookup", AUSTRALIAN, "--login", "nobody") == (
        "error: no such account: nobody"
    )
    succeeds(database_url, "account", "timezone", "zoned", "none")
    assert json.loads(succeeds(database_url, "account", "show", "zoned"))["timezone"] is None
    assert "account_zone" not in lookup(database_url, AUSTRALIAN)


def test_a_running_server_sends_by_a_new_import_within_a_second(
    own_server: Deployment, database_url: str, numbering_file: NumberingFile
) -> None:
    account = own_server.make_account()
    own_server.admin.set_flood_limit(account.login, 1_000, 60)
    params = {
        **creds(account),
        "sourceAddress": SENDER,
        "destinationAddress": VLADIVOSTOK,
        "data": "Hello",
        "sendDate": "2030-01-10T10:00:00",
    }

    def due_at() -> datetime:
        [part_id] = assert_ok(own_server.client.post("/rest/Send/SendByTime/", data=params))
        due: datetime = message_rows(own_server.database, [part_id])[int(part_id)].due_at
        return due

    assert due_at() == datetime(2030, 1, 10, 0, 0, tzinfo=UTC)  # packaged: Vladivostok
    path = numbering_file("DEF-9xx.csv", [(924, 1_200_000, 1_399_999, "Калининградская область")])
    succeeds(database_url, "numbering", "import", "--force", str(path), run=as_command)
    imported = time.monotonic()
    kaliningrad = datetime(2030, 1, 10, 8, 0, tzinfo=UTC)
    while due_at() != kaliningrad:
        assert time.monotonic() - imported < 1.5, "the server did not load the import"
        time.sleep(0.05)
