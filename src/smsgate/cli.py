"""The ``smsgate`` command: serve the API, and administer the platform."""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import orjson
import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from smsgate.config import Settings, load_settings
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.delivery.status import read_status, status_dir
from smsgate.domain.errors import InvalidArgument
from smsgate.domain.inbound_routing import RoutingRuleError, normalize_number
from smsgate.domain.money import decimal_text
from smsgate.domain.numbering import NumberingError
from smsgate.domain.phone import normalize_phone
from smsgate.domain.segments import segment_text
from smsgate.domain.urls import is_public_address
from smsgate.services import numbering
from smsgate.services.accounts import AccountAdmin, AdminError, parse_amount
from smsgate.services.contacts import ContactAdmin
from smsgate.services.inbound_admin import UNROUTED_LIST_LIMIT, InboundAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import UnknownSchema, upgrade
from smsgate.store.outage import unavailable

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
admin = typer.Typer(
    no_args_is_help=True,
    help="Administer accounts, sender names, tariffs, incoming numbers, contacts, the "
    "numbering plan, and see the connectors.",
)
account_cli = typer.Typer(no_args_is_help=True, help="Accounts.")
sender_cli = typer.Typer(no_args_is_help=True, help="Registered sender names.")
tariff_cli = typer.Typer(no_args_is_help=True, help="Prices by destination prefix.")
numbering_cli = typer.Typer(no_args_is_help=True, help="The numbering plan: time zones by number.")
app.add_typer(admin, name="admin")
admin.add_typer(account_cli, name="account")
admin.add_typer(sender_cli, name="sender")
admin.add_typer(tariff_cli, name="tariff")
admin.add_typer(numbering_cli, name="numbering")
inbound_cli = typer.Typer(no_args_is_help=True, help="Incoming numbers and unrouted messages.")
admin.add_typer(inbound_cli, name="inbound")
contacts_cli = typer.Typer(no_args_is_help=True, help="Contact bases, for detailed statistics.")
admin.add_typer(contacts_cli, name="contacts")
simulate_cli = typer.Typer(no_args_is_help=True, help="Drive the simulated SMSC of a server.")
app.add_typer(simulate_cli, name="simulate")

console = Console()
errors = Console(stderr=True)

DEMO_LOGIN = "demo"
DEMO_PASSWORD = "demo"
DEMO_SENDER = "SMS Info"


class State:
    config: Path | None = None


def print_error(message: str) -> None:
    # soft_wrap: one line whatever the terminal width, so scripts can read it.
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    print_error(message)
    raise typer.Exit(1)


def database_reason(error: BaseException) -> str:
    """The driver's reason, on one line: SQLAlchemy's own text adds the statement and its
    parameters (a password's hash, say)."""
    return " ".join(str(getattr(error, "orig", None) or error).split())


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
    return f"setting {name}: {error['msg']}" if name else error["msg"]


def open_database(config: Settings | None = None) -> Database:
    """The settings' database, its schema brought up to date; a clear error when it cannot
    be opened (a server down, a folder that cannot be written)."""
    config = config or settings()
    url = config.database_url
    try:
        database = Database(url, durable=config.durable_commits, lock_wait=config.lock_wait_seconds)
        upgrade(database.write_engine)
    except (SQLAlchemyError, OSError, UnknownSchema) as error:
        fail(
            f"cannot open the database {make_url(url).render_as_string()}: {database_reason(error)}"
        )
    return database


def preflight(config: Settings, *, serving: bool = True) -> Database:
    """What a server needs before it starts, each failure one line rather than a traceback
    (or, under a supervisor, processes restarted for ever): a database it can open (returned,
    to be closed), a data folder and a reports folder it can write (the delivery's report
    builder needs the latter), and, ``serving`` HTTP, a certificate and key that load."""
    database = open_database(config)
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


@app.callback()
def main_options(
    config: Annotated[Path | None, typer.Option(help="A TOML settings file.")] = None,
) -> None:
    State.config = config


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Plain HTTP port.")] = None,
    demo: Annotated[bool, typer.Option(help="Create the demo account when absent.")] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="PEM certificate (with chain): serve HTTPS too.")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="PEM key of the certificate.")] = None,
    ssl_port: Annotated[int | None, typer.Option(help="HTTPS port.")] = None,
    plain_http: Annotated[
        bool | None,
        typer.Option("--plain-http/--no-plain-http", help="Serve plain HTTP, or HTTPS only."),
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics here only.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="API processes; above 1 a supervisor runs them and a worker."),
    ] = None,
    dispatch: Annotated[
        bool | None,
        typer.Option(
            "--dispatch/--no-dispatch",
            help="Deliver here too, or serve the API only (workers deliver elsewhere).",
        ),
    ] = None,
) -> None:
    """Serve the REST API (and, unless --no-dispatch, deliver: dispatcher and connectors)."""
    config = settings(
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        ssl_port=ssl_port,
        plain_http=plain_http,
        metrics_port=metrics_port,
        workers=workers,
        dispatch=dispatch,
    )
    database = preflight(config)
    if demo:
        ensure_demo_account(AccountAdmin(database), config)
    database.close()
    if config.workers > 1:
        from smsgate.supervisor import supervise

        supervise(config)
    else:
        from smsgate.serving import serve as run_server

        run_server(config)


@app.command()
def worker() -> None:
    """Deliver without serving HTTP: dispatcher, connectors, incoming, pushes, reports."""
    from smsgate.worker import run_worker

    config = settings()
    # A worker serves no HTTPS: a key it may not read (mode 0600) is none of its business.
    preflight(config, serving=False).close()
    run_worker(config)


@app.command()
def send(
    text: Annotated[str, typer.Argument(help="The message.")],
    to: Annotated[
        list[str], typer.Option("--to", help="A number to send to (repeat for several).")
    ],
    sender: Annotated[str, typer.Option("--from", help="A sender name of the account.")],
    url: Annotated[str, typer.Option(help="The API's address.")] = "http://127.0.0.1:8080",
    login: Annotated[str | None, typer.Option(help="The account's login.")] = None,
    password: Annotated[
        str | None, typer.Option(help=f"The account's password{FROM_STDIN}.", callback=read_secret)
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            help=f"A session id, instead of login and password{FROM_STDIN}.", callback=read_secret
        ),
    ] = None,
) -> None:
    """Send TEXT through a server's API, as any client does; print the ids of its SMS parts."""
    # Here only: the HTTP client takes a tenth of a second to load, which every other command
    # would pay at its start.
    import httpx

    from smsgate.client import SmsApiError, SmsClient

    try:
        with SmsClient(url, session_id=session, login=login, password=password) as client:
            ids = (
                client.send_sms(sender, to[0], text)
                if len(to) == 1
                else client.send_bulk(sender, to, text)
            )
    except (SmsApiError, ValueError) as error:  # ValueError: no session, login or password
        fail(str(error))
    except httpx.HTTPError as error:
        fail(f"cannot reach {url}: {error}")
    print_json(ids)


def ensure_demo_account(accounts: AccountAdmin, config: Settings) -> None:
    with contextlib.suppress(AdminError):  # already there: keep its balance and history
        accounts.create(
            DEMO_LOGIN,
            password=DEMO_PASSWORD,
            balance=Decimal(1000),
            sender_names=[DEMO_SENDER],
        )
    base = f"http://{config.host}:{config.port}/rest"
    console.print(
        f"Demo account: login [bold]{DEMO_LOGIN}[/bold], password [bold]{DEMO_PASSWORD}[/bold], "
        f"sender name [bold]{DEMO_SENDER}[/bold]\n"
        f"  curl '{base}/Session/?login={DEMO_LOGIN}&password={DEMO_PASSWORD}'\n"
        f"  curl '{base}/Balance/?sessionId=<the id above>'",
        highlight=False,
    )


@account_cli.command("create")
def account_create(
    login: str,
    password: Annotated[
        str, typer.Option(help=f"The account password{FROM_STDIN}.", callback=read_secret)
    ],
    api_password: Annotated[
        str | None, typer.Option(help=f"The API password (pass){FROM_STDIN}.", callback=read_secret)
    ] = None,
    balance: Annotated[str, typer.Option(help="Starting balance.")] = "0",
    price: Annotated[str | None, typer.Option(help="Default price per part.")] = None,
    sender: Annotated[list[str] | None, typer.Option(help="A sender name to register.")] = None,
    dynamic_sender: Annotated[bool, typer.Option(help="Allow any sender name.")] = False,
    parent: Annotated[str | None, typer.Option(help="Make this a sub-login of PARENT.")] = None,
) -> None:
    """Create an account."""
    run(
        lambda a: a.create(
            login,
            password=password,
            api_password=api_password,
            balance=amount(balance),
            price=amount(price) if price is not None else None,
            sender_names=sender or [],
            dynamic_sender=dynamic_sender,
            parent=parent,
        ),
        f"created account {login}",
    )


# "-5" is the amount to take, not an option.
@account_cli.command("credit", context_settings={"ignore_unknown_options": True})
def account_credit(login: str, value: Annotated[str, typer.Argument(metavar="AMOUNT")]) -> None:
    """Add AMOUNT to the balance (negative to take; refused below zero)."""
    balance = run(lambda a: a.credit(login, amount(value)))
    console.print(f"{login} balance {decimal_text(balance)}", highlight=False)


@account_cli.command("show")
def account_show(login: str) -> None:
    """Print the account as JSON."""
    print_json(run(lambda a: a.show(login)))


@account_cli.command("block")
def account_block(login: str) -> None:
    """Refuse every request of the account."""
    run(lambda a: a.set_blocked(login, True), f"blocked {login}")


@account_cli.command("unblock")
def account_unblock(login: str) -> None:
    """Serve the account again."""
    run(lambda a: a.set_blocked(login, False), f"unblocked {login}")


@account_cli.command("password")
def account_password(
    login: str,
    password: Annotated[
        str | None, typer.Option(help=f"New account password{FROM_STDIN}.", callback=read_secret)
    ] = None,
    api_password: Annotated[
        str | None, typer.Option(help=f"New API password (pass){FROM_STDIN}.", callback=read_secret)
    ] = None,
) -> None:
    """Change the password or the API password; session ids stay valid (see
    revoke-sessions)."""
    run(
        lambda a: a.set_passwords(login, password=password, api_password=api_password),
        f"password changed for {login}",
    )


@account_cli.command("revoke-sessions")
def account_revoke_sessions(login: str) -> None:
    """End every session id of the account: its clients must open a session again."""
    revoked = run(lambda a: a.revoke_sessions(login))
    console.print(f"{revoked} session id{'s' if revoked != 1 else ''} revoked for {login}")


@account_cli.command("dynamic-sender")
def account_dynamic_sender(login: str, enabled: Annotated[bool, typer.Argument()] = True) -> None:
    """Allow (or with `false` forbid) any sender name."""
    run(lambda a: a.set_dynamic_sender(login, enabled), f"dynamic sender {enabled} for {login}")


@account_cli.command("flood")
def account_flood(
    login: str,
    limit: Annotated[int | None, typer.Option(help="Messages to one number per window.")] = None,
    window: Annotated[int | None, typer.Option(help="Window in seconds.")] = None,
) -> None:
    """Override the flood limit; the one not given keeps the account's (omit both to return
    to the platform default)."""

    def change(accounts: AccountAdmin) -> None:
        new_limit, new_window = limit, window
        if (limit is None) != (window is None):
            current = accounts.show(login)
            new_limit = current["flood_limit"] if limit is None else limit
            new_window = current["flood_window_seconds"] if window is None else window
        accounts.set_flood_limit(login, new_limit, new_window)

    run(change, f"flood limit set for {login}")


@account_cli.command("timezone")
def account_timezone(
    login: str,
    zone: Annotated[str, typer.Argument(help="An IANA zone (Asia/Omsk), or none: the platform's.")],
) -> None:
    """Set the SendByTime zone for recipients whose number decides none."""
    chosen = None if zone.lower() == "none" else zone
    run(lambda a: a.set_timezone(login, chosen), f"{login}: zone {chosen or 'of the platform'}")


@sender_cli.command("add")
def sender_add(login: str, name: str) -> None:
    """Register a sender name."""
    run(lambda a: a.add_sender(login, name), f"sender name {name!r} added to {login}")


@sender_cli.command("remove")
def sender_remove(login: str, name: str) -> None:
    """Remove a registered sender name."""
    run(lambda a: a.remove_sender(login, name), f"sender name {name!r} removed from {login}")


# "-1" is a price to refuse with its reason, not an unknown option.
@tariff_cli.command("set", context_settings={"ignore_unknown_options": True})
def tariff_set(login: str, prefix: str, price: str) -> None:
    """Set the price per part for destinations starting with PREFIX."""
    run(lambda a: a.set_tariff(login, prefix, amount(price)), f"{login}: {prefix} costs {price}")


@tariff_cli.command("show")
def tariff_show(login: str) -> None:
    """Print the account's prices by prefix as JSON."""
    print_json(run(lambda a: a.tariff(login)))


@numbering_cli.command("import")
def numbering_import(
    files: Annotated[list[Path], typer.Argument(help="Official files: DEF-9xx, ABC-3xx, ...")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Import files that place fewer numbers in a zone than the plan."
        ),
    ] = False,
) -> None:
    """Validate official numbering plan files and put them in force for every server: they
    replace the plan in force, so give every file of the plan at once."""
    try:
        imported = numbering.import_files(open_database(), files, force=force)
    except (OSError, NumberingError) as error:
        fail(str(error))
    print_imported(imported)


@numbering_cli.command("reset")
def numbering_reset() -> None:
    """Put the plan packaged with smsgate back in force for every server."""
    print_imported(numbering.import_packaged(open_database()))


def print_imported(imported: numbering.Numbering) -> None:
    report = imported.registry.report
    lines = [
        f"imported #{imported.import_id}: {len(imported.registry):,} ranges, "
        f"{numbering.zoned_numbers(imported):,} numbers in a time zone"
    ]
    lines += [
        f"  {source.name}: {source.report.ranges:,} rows, sha256 {source.sha256}"
        for source in imported.files
    ]
    if report.unmapped_subjects:
        lines.append(
            f"warning: {len(report.unmapped_subjects)} subjects have no time zone, their "
            "numbers fall back: " + "; ".join(report.unmapped_subjects)
        )
    if report.no_region_ranges:
        lines.append(f"warning: {report.no_region_ranges:,} ranges name no region: they fall back")
    if report.multi_zone_ranges:
        lines.append(
            f"warning: {report.multi_zone_ranges:,} ranges span several time zones: they fall back"
        )
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@numbering_cli.command("status")
def numbering_status() -> None:
    """Print the numbering in force as JSON: source, files, SHA-256, rows and report."""
    print_json(numbering.describe(numbering_in_force()))


@numbering_cli.command("lookup")
def numbering_lookup(
    number: str,
    login: Annotated[str | None, typer.Option(help="Fall back to this account's zone.")] = None,
) -> None:
    """Print the range, operator, subject and zone of NUMBER, and which step chose the zone."""
    try:
        international = normalize_phone(number)
    except InvalidArgument as error:
        fail(error.desc)
    account_zone = run(lambda a: a.show(login)["timezone"]) if login else None
    found = numbering.lookup(
        numbering_in_force(), international, account_zone, settings().default_timezone
    )
    print_json(found if login is None else {**found, "account_zone": account_zone})


@account_cli.command("webhook")
def account_webhook(
    login: str,
    url: Annotated[str | None, typer.Argument(help="The http or https URL to POST to.")] = None,
    secret: Annotated[
        str | None,
        typer.Option(help=f"Sign each POST with this key{FROM_STDIN}.", callback=read_secret),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Stop pushing.")] = False,
) -> None:
    """POST each incoming message of the account to URL as it arrives (instant push)."""
    if clear == (url is not None):
        fail("give either URL or --clear")
    run_inbound(
        lambda a: a.set_webhook(login, url, secret),
        f"{login}: incoming messages pushed to {url}" if url else f"{login}: no push",
    )
    if url is not None and not settings().push_private_addresses:
        _warn_of_a_private_receiver(url)


def _warn_of_a_private_receiver(url: str) -> None:
    """Pushes to a receiver on a private address are refused, at each attempt for a day: say
    so now. A host that does not resolve yet is left to the pushes."""
    host = urlsplit(url).hostname
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return
    if not any(is_public_address(str(info[4][0])) for info in found):
        errors.print(
            f"warning: {host} has no public address: pushes to it are refused unless "
            "SMSGATE_PUSH_PRIVATE_ADDRESSES=true",
            highlight=False,
            soft_wrap=True,
        )


@inbound_cli.command("add")
def inbound_add(
    login: str,
    number: str,
    prefix: Annotated[str | None, typer.Option(help="Only texts starting with this word.")] = None,
) -> None:
    """Route incoming messages to NUMBER (whose first word is PREFIX, in any case) to LOGIN."""
    route = run_inbound(lambda a: a.add_number(login, number, prefix))
    console.print(f"{route} routed to {login}", highlight=False)


@inbound_cli.command("remove")
def inbound_remove(
    login: str,
    number: str,
    prefix: Annotated[str | None, typer.Option(help="The route's prefix.")] = None,
) -> None:
    """Stop routing NUMBER (with PREFIX) to LOGIN."""
    route = run_inbound(lambda a: a.remove_number(login, number, prefix))
    console.print(f"{route} no longer routed to {login}", highlight=False)


@inbound_cli.command("list")
def inbound_list(login: Annotated[str | None, typer.Argument()] = None) -> None:
    """Print the incoming numbers of LOGIN (or of every account) as JSON."""
    print_json(run_inbound(lambda a: a.list_numbers(login)))


@inbound_cli.command("unrouted")
def inbound_unrouted(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest.")] = (
        UNROUTED_LIST_LIMIT
    ),
) -> None:
    """Print incoming messages that no account owns as JSON, oldest first."""
    print_json(run_inbound(lambda a: a.unrouted(limit)))


@admin.command("connectors")
def admin_connectors(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show each SMSC bind: state, window use, TPS and counters.

    Each process that delivers writes the status of the connectors it runs every second to
    DATA_DIR/connectors/; this command reads those files (so it needs the same data folder).
    """
    data_dir = settings().data_dir
    status = read_status(data_dir)
    if status is None:
        fail(
            f"no status in {status_dir(data_dir)}: "
            "no server with the dispatcher has run on this data folder"
        )
    if as_json:
        print_json(status)
        return
    age = time.time() - status["updated_at"]
    pids = ", ".join(map(str, status["pids"]))
    console.print(
        f"pid {pids}: {'running' if status['running'] else 'not running'}, "
        f"status of {age:.0f} s ago",
        highlight=False,
    )
    wide = console.width >= WIDE_TABLE_COLUMNS
    table = Table("connector", *BIND_COLUMNS)
    for connector in status["connectors"]:
        title = f"{connector['name']} ({'up' if connector['up'] else 'down'})"
        sessions = connector.get("sessions")
        if sessions is not None:  # the simulated SMSC has no binds
            title += f"\nreceipts {connector['receipts']}, incoming {connector['incoming']}"
        if not wide:
            console.print(escape(title.replace("\n", ": ")), highlight=False)
        elif sessions is None:
            table.add_row(escape(title))
        for session in sessions or ():
            cells = [escape(cell) for cell in _bind_cells(session)]
            if wide:
                table.add_row(escape(title), *cells)
                title = ""
            else:  # a line per bind: a table of 13 columns wraps each cell at 80
                pairs = (f"{name} {cell}" for name, cell in zip(BIND_COLUMNS, cells, strict=True))
                console.print("  " + ", ".join(pairs), highlight=False, soft_wrap=True)
    if wide:
        console.print(table)


# Below this terminal width (80 over ssh, or when piped) each bind is a line, not a table row.
WIDE_TABLE_COLUMNS = 150
BIND_COLUMNS = (
    "bind", "state", "window", "TPS", "submitted", "accepted", "rejected", "throttled",
    "timed out", "in", "drops", "last error",
)  # fmt: skip


def _bind_cells(session: dict[str, Any]) -> list[str]:
    """A bind's figures in ``BIND_COLUMNS`` order."""
    limit = session["tps_limit"]
    return [
        session["bind"],
        session["state"],
        f"{session['window_used']}/{session['window']}",
        f"{session['tps']}/{limit:g}" if limit else str(session["tps"]),
        *(
            str(session[name])
            for name in ("submitted", "accepted", "rejected", "throttled", "timed_out")
        ),
        str(session["inbound"]),
        str(session["disconnects"]),
        session["last_error"] or "-",
    ]


@simulate_cli.command("incoming")
def simulate_incoming(
    source: Annotated[str, typer.Option("--from", help="The sender's number.")],
    destination: Annotated[str, typer.Option("--to", help="The incoming number.")],
    text: Annotated[str, typer.Option("--text", help="The message.")],
) -> None:
    """Have the simulated SMSC of the running server deliver an incoming message."""
    try:
        normalize_number(source)
        normalize_number(destination)
        segment_text(text)
    except RoutingRuleError as error:
        fail(str(error))
    except InvalidArgument as error:
        fail(error.desc)
    config = settings()
    if config.smsc != "simulator":
        # Nothing would read it until the platform used the simulator, which would then
        # deliver (and push) a test message long forgotten.
        fail(f"smsc is {config.smsc}: there is no simulated SMSC to hand the message to")
    queue_incoming(open_database(config), [(source, destination, text)])
    console.print("handed to the simulated SMSC", highlight=False)


def numbering_in_force() -> numbering.Numbering:
    try:
        return numbering.load_numbering(open_database())
    except NumberingError as error:
        fail(f"the imported numbering does not load: {error}")


@contacts_cli.command("import")
def contacts_import(
    login: str,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="A header row: phone, name, then fields.")
    ],
) -> None:
    """Add the contacts of a CSV file to LOGIN's base; a phone already there is updated."""
    try:
        size = file.stat().st_size
    except OSError as error:
        fail(str(error))
    # Only for a person watching: a script's output stays its result lines.
    with Progress(console=errors, transient=True, disable=not errors.is_terminal) as progress:
        task = progress.add_task(f"importing {file.name}", total=size)
        outcome = run_contacts(
            lambda a: a.import_file(login, file, lambda done: progress.update(task, completed=done))
        )
    lines = [f"imported {outcome.imported:,} contacts into {login}"]
    if outcome.rejected:
        lines.append(f"{outcome.rejected:,} rows rejected:")
        lines += [f"  line {r.line}: {r.reason}" for r in outcome.rejections]
        if outcome.rejected > len(outcome.rejections):
            lines.append(f"  ... and {outcome.rejected - len(outcome.rejections):,} more")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@contacts_cli.command("list")
def contacts_list(login: str) -> None:
    """Print LOGIN's contacts as a JSON array, by phone."""
    pages = run_contacts(lambda a: a.pages(login))
    separator = "[\n  "
    for page in pages:
        for contact in page:
            sys.stdout.write(separator + orjson.dumps(asdict(contact)).decode())
            separator = ",\n  "
    sys.stdout.write("[]\n" if separator.startswith("[") else "\n]\n")


def run(action: Callable[[AccountAdmin], T], done: str | None = None) -> T:
    try:
        result = action(account_admin())
    except AdminError as error:
        fail(str(error))
    if done:
        console.print(done, highlight=False)
    return result


def run_inbound(action: Callable[[InboundAdmin], T], done: str | None = None) -> T:
    return run(lambda accounts: action(InboundAdmin(accounts.database)), done)


def run_contacts(action: Callable[[ContactAdmin], T]) -> T:
    return run(lambda accounts: action(ContactAdmin(accounts.database)))


def main() -> None:
    try:
        app()
    except Exception as error:
        # A command's statement failed as the database could not serve (locked past the
        # wait, gone since it was opened, read-only): one line, as every other error.
        reason = unavailable(error)
        if reason is None:
            raise
        print_error(f"the database cannot serve: {reason}")
        sys.exit(1)
