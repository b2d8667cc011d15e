"""``smsgate admin contacts import|list``, and reports joined to the contact base (``c_base``)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smsgate.cli import app
from smsgate.reports.build import report_columns
from smsgate.services import contacts
from tests.api.helpers import Deployment
from tests.reports.helpers import Seed, csv_rows, order, ready, seed


def admin(deployment: Deployment, *args: str) -> tuple[int, str, str]:
    """``smsgate admin ARGS`` on the deployment's database, in this process."""
    result = CliRunner().invoke(
        app, ["admin", *args], env={"SMSGATE_DATABASE_URL": deployment.process.database_url}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("\r\n".join(lines).encode(encoding))
    return path


def listed(deployment: Deployment, login: str) -> list[dict[str, object]]:
    code, out, err = admin(deployment, "contacts", "list", login)
    assert code == 0, err
    contacts = json.loads(out)
    assert isinstance(contacts, list)
    return contacts


def test_import_keeps_further_columns_as_fields_and_normalises_phones(
    reports_server: Deployment, tmp_path: Path
) -> None:
    account = reports_server.make_account()
    path = write(
        tmp_path / "base.csv",
        ["phone;name;city;birthday", "+7 (900) 123-45-67;Анна;Омск;01.02", "79007654321;Борис;;"],
        "utf-8-sig",
    )
    code, out, _ = admin(reports_server, "contacts", "import", account.login, str(path))
    assert code == 0
    assert out.strip() == f"imported 2 contacts into {account.login}"
    assert listed(reports_server, account.login) == [
        {"phone": "79001234567", "name": "Анна", "fields": {"city": "Омск", "birthday": "01.02"}},
        {"phone": "79007654321", "name": "Борис", "fields": {"city": "", "birthday": ""}},
    ]


def test_a_nul_in_a_contact_is_kept_as_u_fffd(reports_server: Deployment, tmp_path: Path) -> None:
    # PostgreSQL text holds no NUL: the import failed with a traceback after earlier chunks.
    account = reports_server.make_account()
    path = write(tmp_path / "nul.csv", ["phone;name;ci\x00ty", "79001234567;An\x00na;Om\x00sk"])
    code, _, err = admin(reports_server, "contacts", "import", account.login, str(path))
    assert code == 0, err
    assert listed(reports_server, account.login) == [
        {"phone": "79001234567", "name": "An\ufffdna", "fields": {"ci\ufffdty": "Om\ufffdsk"}}
    ]


@pytest.mark.parametrize("amount", ["-5", "-0.5"])
def test_credit_takes_a_negative_amount_as_written(reports_server: Deployment, amount: str) -> None:
    # README: "negative to take"; typer read "-5" as an unknown option.
    account = reports_server.make_account()
    code, out, err = admin(reports_server, "account", "credit", account.login, amount)
    assert code == 0, err
    balance = Decimal(out.strip().rpartition(" ")[2])
    assert balance == Decimal(1000) + Decimal(amount)


def test_a_cp1251_file_with_commas_imports_and_a_second_import_updates(
    reports_server: Deployment, tmp_path: Path
) -> None:
    account = reports_server.make_account()
    first = write(tmp_path / "one.csv", ["Телефон,Имя", "79001234567,Анна"], "cp1251")
    second = write(tmp_path / "two.csv", ["phone,name", '79001234567,"Анна, Омск"'])
    for path in (first, second):
        assert admin(reports_server, "contacts", "import", account.login, str(path))[0] == 0
    assert listed(reports_server, account.login) == [
        {"phone": "79001234567", "name": "Анна, Омск", "fields": {}}
    ]


def test_bad_rows_are_reported_and_the_rest_imported(
    reports_server: Deployment, tmp_path: Path
) -> None:
    account = reports_server.make_account()
    path = write(
        tmp_path / "base.csv",
        [
            "phone;name",
            "79001234567;Анна",
            "12345;Nobody",
            "",
            "79007654321;Борис;extra",
            "79001112233;Вера",
        ],
    )
    code, out, _ = admin(reports_server, "contacts", "import", account.login, str(path))
    assert code == 0
    assert out.splitlines() == [
        f"imported 2 contacts into {account.login}",
        "2 rows rejected:",
        "  line 3: invalid phone number: 12345",
        "  line 5: 3 columns, the header has 2",
    ]
    assert [c["phone"] for c in listed(reports_server, account.login)] == [
        "79001112233",
        "79001234567",
    ]


def test_imports_that_cannot_start_fail_with_one_line(
    reports_server: Deployment, tmp_path: Path
) -> None:
    account = reports_server.make_account()
    one_column = write(tmp_path / "one.csv", ["phone", "79001234567"])
    field_twice = write(tmp_path / "twice.csv", ["phone;name;city;city", "79001234567;A;B;C"])
    for args, message in [
        (("nobody-here", str(one_column)), "no such account: nobody-here"),
        ((account.login, str(tmp_path / "missing.csv")), "missing.csv"),
        ((account.login, str(one_column)), "the header needs a phone and a name column"),
        ((account.login, str(field_twice)), "the header names the field 'city' twice"),
    ]:
        code, _, err = admin(reports_server, "contacts", "import", *args)
        [line] = err.splitlines()
        assert code == 1 and line.startswith("error: ") and message in line, err
    assert listed(reports_server, account.login) == []


def test_c_base_adds_the_contacts_name_and_fields(
    reports_server: Deployment, tmp_path: Path
) -> None:
    parent = reports_server.make_account()
    child = reports_server.make_account(parent=parent.login)
    path = write(tmp_path / "base.csv", ["phone;name;city", "79001234567;Анна;Омск"])
    assert admin(reports_server, "contacts", "import", parent.login, str(path))[0] == 0
    known, unknown = seed(
        reports_server.database,
        parent,
        [Seed(minutes=1, destination="79001234567"), Seed(minutes=2, destination="79007654321")],
    )
    (childs,) = seed(reports_server.database, child, [Seed(minutes=3, destination="79001234567")])
    header, *rows = csv_rows(ready(parent, order(parent, c_base="1", sub_stat="1")))
    assert header[-3:] == ["Login", "Contact name", "city"]
    assert [(int(row[0]), row[11], row[-2], row[-1]) for row in rows] == [
        (known, parent.login, "Анна", "Омск"),
        (unknown, parent.login, "", ""),
        (childs, child.login, "Анна", "Омск"),  # the base of the account that ordered it
    ]
    plain_header, *plain = csv_rows(ready(parent, order(parent)))
    assert plain_header[-1] == "Login" and all(len(row) == len(plain_header) for row in plain)


def test_only_the_first_hundred_rejections_are_listed(
    reports_server: Deployment, tmp_path: Path
) -> None:
    account = reports_server.make_account()
    path = write(tmp_path / "bad.csv", ["phone;name"] + [f"{n};Nobody" for n in range(105)])
    code, out, _ = admin(reports_server, "contacts", "import", account.login, str(path))
    lines = out.splitlines()
    assert code == 0 and lines[:2] == [
        f"imported 0 contacts into {account.login}",
        "105 rows rejected:",
    ]
    assert len(lines) == 2 + 100 + 1 and lines[-1] == "  ... and 5 more"


def test_an_import_stopped_by_a_bad_file_says_what_it_imported_before(
    reports_server: Deployment, tmp_path: Path
) -> None:
    """Rows go in a chunk at a time: an error after the first chunks leaves those imported,
    and the one line of error says so rather than read as nothing imported."""
    account = reports_server.make_account()
    good = [f"7900{n:07d};Name {n}" for n in range(6_000)]
    too_long = "79001999999;" + "x" * 200_000  # past the csv module's field limit
    path = write(tmp_path / "broken.csv", ["phone;name", *good, too_long])
    code, _, err = admin(reports_server, "contacts", "import", account.login, str(path))
    [line] = err.splitlines()
    assert code == 1 and "(5000 contacts before it were imported)" in line, err
    assert len(listed(reports_server, account.login)) == 5_000


def test_a_number_the_numbering_plan_assigns_imports_as_sends_take_it(
    reports_server: Deployment, tmp_path: Path
) -> None:
    # 930 000 (МТТ) is in the packaged plan and unknown to libphonenumber: SendSms takes it,
    # and the import rejected it, so c_base=1 could never find the contact.
    account = reports_server.make_account()
    path = write(tmp_path / "mtt.csv", ["phone;name", "+7 930 000-12-34;Client"])
    code, out, err = admin(reports_server, "contacts", "import", account.login, str(path))
    assert code == 0 and out.strip() == f"imported 1 contacts into {account.login}", out + err
    assert listed(reports_server, account.login) == [
        {"phone": "79300001234", "name": "Client", "fields": {}}
    ]


def test_a_phone_repeated_in_the_file_counts_once_in_any_chunk(
    reports_server: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The count was of each chunk's distinct phones: a phone again in a later chunk counted
    # twice, one again in the same chunk not at all.
    monkeypatch.setattr(contacts, "CHUNK_ROWS", 2)
    account = reports_server.make_account()
    rows = [
        "79001234567;A1",
        "79001234568;B1",
        "+7 900 123-45-67;A2",
        "79001234569;C",
        "79001234568;B2",
    ]
    path = write(tmp_path / "twice.csv", ["phone;name", *rows])
    code, out, _ = admin(reports_server, "contacts", "import", account.login, str(path))
    assert code == 0
    assert out.splitlines() == [
        f"imported 3 contacts into {account.login}",
        "2 rows repeated the phone of an earlier row: each phone has its last row's name and "
        "fields",
    ]
    assert [(c["phone"], c["name"]) for c in listed(reports_server, account.login)] == [
        ("79001234567", "A2"),
        ("79001234568", "B2"),
        ("79001234569", "C"),
    ]


def test_a_base_keeps_no_more_fields_than_a_report_holds(
    reports_server: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # XlsxWriter drops cells past Excel's last column without a word.
    assert len(report_columns("UTC", ["field"] * contacts.MAX_CONTACT_FIELDS)) <= 16_384
    monkeypatch.setattr(contacts, "MAX_CONTACT_FIELDS", 3)
    account = reports_server.make_account()
    first = write(tmp_path / "one.csv", ["phone;name;a;b", "79001234567;A;1;2"])
    second = write(tmp_path / "two.csv", ["phone;name;b;c;d", "79001234568;B;1;2;3"])
    assert admin(reports_server, "contacts", "import", account.login, str(first))[0] == 0
    code, _, err = admin(reports_server, "contacts", "import", account.login, str(second))
    assert code == 1
    assert "the base would have 4 contact fields, and a report holds at most 3" in err
    assert len(listed(reports_server, account.login)) == 1
