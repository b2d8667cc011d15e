"""What every command shares: the settings, the database, and how output and errors are written."""

from __future__ import annotations

import ssl
import sys
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import NoReturn, TypeVar

import orjson
import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from smsgate.config import Settings, load_settings
from smsgate.services.accounts import AccountAdmin, AdminError, parse_amount
from smsgate.services.contacts import ContactAdmin
from smsgate.services.inbound_admin import InboundAdmin
from smsgate.store.database import Database, sqlite_file
from smsgate.store.migrate import UnknownSchema, open_migrated
from smsgate.store.outage import driver_reason

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


class State:
    config: Path | None = None


def print_error(message: str) -> None:
    # soft_wrap: one line whatever the terminal width, so scripts can read it.
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    print_error(message)
    raise typer.Exit(1)


def settings(**overrides: object) -> Settings:
    try:
        return load_settings(State.config, **overrides)
    except ValidationError as error:
        # pydantic explains each bad setting over several lines; a CLI error is one line
        fail("; ".join(map(_setting_problem, error.errors())))
    except (OSError, ValueError) as error:
        fail(str(error))


def _setting_problem(error: ErrorDetails) -> str:
    """One problem of the settings; a rule over several names none."""
    name = ".".join(map(str, error["loc"]))
    # pydantic starts the message of a validator's ValueError with its kind; ours say it all.
    message = error["msg"].removeprefix("Value error, ")
    return f"setting {name}: {message}" if name else message


def open_database(config: Settings | None = None, *, note_new_file: bool = True) -> Database:
    """The settings' database, its schema brought up to date; a clear error when it cannot
    be opened (a server down, a folder that cannot be written). With ``note_new_file``, a
    SQLite file made here is announced."""
    config = config or settings()
    url = config.database_url
    new_file = _absent_sqlite_file(url) if note_new_file else None
    try:
        database = open_migrated(
            url,
            durable=config.durable_commits,
            lock_wait=config.lock_wait_seconds,
            transaction_pooling=config.database_transaction_pooling,
        )
    except (SQLAlchemyError, OSError, UnknownSchema) as error:
        fail(f"cannot open the database {make_url(url).render_as_string()}: {driver_reason(error)}")
    if new_file is not None:
        # The default file is relative to the folder a command runs in: an admin command run
        # elsewhere than its server would otherwise quietly work on a database of its own.
        note = f"note: no database was at {new_file}: created an empty one"
        errors.print(note, markup=False, highlight=False, soft_wrap=True)
    return database


def _absent_sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names, made absolute, when there is none yet."""
    path = sqlite_file(url)
    if path is None:
        return None
    path = path.expanduser().absolute()
    return None if path.exists() else path


def preflight(config: Settings, *, serving: bool = True) -> Database:
    """What a server needs before it starts, each failure one line rather than a traceback
    (or, under a supervisor, processes restarted for ever): a database it can open (returned,
    to be closed), a data folder and a reports folder it can write (the delivery's report
    builder needs the latter), and, ``serving`` HTTP, a certificate and key that load."""
    database = open_database(config, note_new_file=False)  # a server's first start makes it
    folders = {"data folder": config.data_dir, "reports folder": config.reports_folder}
    for what, folder in folders.items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            fail(f"cannot write the {what} {folder}: {error.strerror or error}")
    if serving and config.ssl_certfile is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                config.ssl_certfile, config.ssl_keyfile
            )
        except (OSError, ssl.SSLError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            fail(
                f"cannot load the certificate {config.ssl_certfile} with the key "
                f"{config.ssl_keyfile}: {reason}"
            )
    return database


FROM_STDIN = " (-: read from standard input)"


def read_secret(value: str | None) -> str | None:
    """A secret option's callback: "-" stands for the next line of standard input, so that
    the secret shows neither in the process list nor in the shell's history. Click calls the
    callbacks in the order the options were given, so the lines go to them in that order."""
    if value != "-":
        return value
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("a secret given as - needs its line of standard input")
    return line


def account_admin() -> AccountAdmin:
    return AccountAdmin(open_database())


def print_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def amount(raw: str) -> Decimal:
    try:
        return parse_amount(raw)
    except AdminError as error:
        fail(str(error))


def run(action: Callable[[AccountAdmin], T], done: str | None = None) -> T:
    try:
        result = action(account_admin())
    except AdminError as error:
        fail(str(error))
    if done:
        console.print(done, markup=False, highlight=False)
    return result


def run_inbound(action: Callable[[InboundAdmin], T], done: str | None = None) -> T:
    return run(lambda accounts: action(InboundAdmin(accounts.database)), done)


def run_contacts(action: Callable[[ContactAdmin], T]) -> T:
    return run(lambda accounts: action(ContactAdmin(accounts.database)))
