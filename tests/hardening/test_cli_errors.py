"""Settings and databases the CLI cannot use: one line of error and status 1, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from tests.commands import smsgate
from tests.databases import write_lock_held
from tests.server import free_port


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo", "not a database URL"),
        ("mysql://x/y", "unsupported database 'mysql'"),
        ("postgresql://nobody:secret@127.0.0.1:1/x", "cannot open the database postgresql"),
        ("sqlite:///{tmp}/a-file/smsgate.db", "cannot open the database sqlite"),
    ],
    ids=["not a url", "mysql", "server down", "folder unwritable"],
)
def test_a_database_that_cannot_be_opened_is_a_line_of_error(
    tmp_path: Path, url: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("")
    result = smsgate(
        tmp_path, "admin", "account", "show", "alice", database_url=url.format(tmp=tmp_path)
    )
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


SERVERS = {"serve": ["serve"], "workers": ["serve", "--workers", "2"], "worker": ["worker"]}
CANNOT_START = {
    "database down": (
        {"database_url": "postgresql://nobody:secret@127.0.0.1:1/x"},
        "cannot open the database postgresql",
    ),
    "data folder unwritable": ({"data_dir": "{tmp}/a-file/var"}, "cannot write the data folder"),
    "reports folder unwritable": (
        {"data_dir": "{tmp}/var", "reports_dir": "{tmp}/a-file/reports"},
        "cannot write the reports folder",
    ),
    "certificate missing": (
        {"ssl_certfile": "{tmp}/missing.pem", "ssl_keyfile": "{tmp}/missing.key"},
        "cannot load the certificate",
    ),
    "not a certificate": (
        {"ssl_certfile": "{tmp}/a-file", "ssl_keyfile": "{tmp}/a-file"},
        "cannot load the certificate",
    ),
}


@pytest.mark.parametrize(
    ("command", "settings", "message"),
    [
        pytest.param(SERVERS[server], *CANNOT_START[case], id=f"{server}-{case}")
        for server in SERVERS
        for case in CANNOT_START
        # A worker serves no HTTPS, and needs no key it may be unable to read.
        if not (server == "worker" and "certificate" in case)
    ],
)
def test_a_server_that_cannot_start_says_why_in_a_line(
    tmp_path: Path, command: list[str], settings: dict[str, str], message: str
) -> None:
    (tmp_path / "a-file").write_text("")
    result = smsgate(
        tmp_path,
        *command,
        **{"port": "1", **{name: value.format(tmp=tmp_path) for name, value in settings.items()}},
    )
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("command", [["admin", "account", "show", "alice"], *SERVERS.values()])
def test_a_database_a_newer_release_migrated_is_a_line_of_error(
    tmp_path: Path, command: list[str]
) -> None:
    """As after a release is rolled back, or on a host older than the one that migrated."""
    url = f"sqlite:///{tmp_path}/smsgate.db"
    database = Database(url)
    upgrade(database.write_engine)
    database.write_sync(
        lambda connection: connection.exec_driver_sql(
            "UPDATE alembic_version SET version_num='9999'"
        )
    )
    database.close()
    result = smsgate(tmp_path, *command, database_url=url, port="1")
    assert result.returncode == 1
    assert "the database was migrated by a newer smsgate" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_list_in_the_environment_not_written_in_json_is_a_line_of_error(
    tmp_path: Path,
) -> None:
    # As uvicorn takes it: the error named the setting, not the JSON it wants.
    result = smsgate(tmp_path, "admin", "account", "show", "alice", forwarded_allow_ips="10.0.0.5")
    assert result.returncode == 1
    assert '"forwarded_allow_ips"' in result.stderr
    assert 'a list or a table is written in JSON there, such as ["10.0.0.5"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_misspelled_setting_in_the_environment_is_a_line_of_error(tmp_path: Path) -> None:
    result = smsgate(tmp_path, "admin", "account", "show", "alice", databse_url="sqlite:///x.db")
    assert result.returncode == 1
    assert "unknown setting in the environment: SMSGATE_DATABSE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "var").exists()  # no database made for the command


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("port = 80x\n", "{file}: Expected newline or end of document"),
        (
            '[connectors.a]\nhost = "h"\nport = 1\nsystem_id = "s"\npassword = "p"\n',
            "error: connectors and routes are used with smsc = smpp only",
        ),
    ],
    ids=["syntax", "a rule over several settings"],
)
def test_a_settings_file_it_cannot_use_is_a_line_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    settings_file = tmp_path / "smsgate.toml"
    settings_file.write_text(content)
    result = smsgate(tmp_path, "admin", "account", "show", "alice", config=str(settings_file))
    assert result.returncode == 1
    assert message.format(file=settings_file) in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_simulate_incoming_without_the_simulator_is_refused(tmp_path: Path) -> None:
    """Nothing would read it until the platform used the simulator again, which would then
    deliver a test message long forgotten."""
    settings_file = tmp_path / "smsgate.toml"
    settings_file.write_text(
        'smsc = "smpp"\n[connectors.a]\nhost = "h"\nport = 1\nsystem_id = "s"\npassword = "p"\n'
    )
    result = smsgate(
        tmp_path, "simulate", "incoming", "--from", "79001234567", "--to", "2420", "--text", "hi",
        config=str(settings_file),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: smsc is smpp: there is no simulated SMSC to hand the message to"
    ), result.stderr


def test_a_negative_price_is_refused_with_its_reason(tmp_path: Path) -> None:
    assert (
        smsgate(tmp_path, "admin", "account", "create", "acme", "--password", "p").returncode == 0
    )
    result = smsgate(tmp_path, "admin", "tariff", "set", "acme", "7916", "-1")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: price must not be negative", result.stderr


def test_a_second_port_in_use_stops_the_server_in_order(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = smsgate(tmp_path, "serve", port=str(free_port()), metrics_port=str(busy))
    assert result.returncode == 3
    assert "address already in use" in result.stderr
    # The app's shutdown ran in order: no traceback of its cancelled lifespan.
    assert "Application shutdown complete" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_a_database_locked_past_the_wait_is_a_line_of_error(
    database_url: str, tmp_path: Path
) -> None:
    """README: errors print one line; a command behind another's lock printed 220 lines of
    traceback."""
    database = Database(database_url)
    upgrade(database.write_engine)
    AccountAdmin(database).create("alice", password="secret-password")
    database.close()
    with write_lock_held(database_url):
        result = smsgate(
            tmp_path, "admin", "account", "credit", "alice", "5",
            database_url=database_url, lock_wait_seconds="0.5",
        )  # fmt: skip
    assert result.returncode == 1
    assert "the database cannot serve" in result.stderr and "lock" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
