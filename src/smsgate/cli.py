"""The ``smsgate`` command: serve the API, and administer the platform."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import orjson
import typer
from rich.console import Console

from smsgate.config import Settings, load_settings
from smsgate.services.accounts import AccountAdmin, AdminError, parse_amount
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
admin = typer.Typer(no_args_is_help=True, help="Administer accounts, sender names and tariffs.")
account_cli = typer.Typer(no_args_is_help=True, help="Accounts.")
sender_cli = typer.Typer(no_args_is_help=True, help="Registered sender names.")
tariff_cli = typer.Typer(no_args_is_help=True, help="Prices by destination prefix.")
app.add_typer(admin, name="admin")
admin.add_typer(account_cli, name="account")
admin.add_typer(sender_cli, name="sender")
admin.add_typer(tariff_cli, name="tariff")

console = Console()
errors = Console(stderr=True)

DEMO_LOGIN = "demo"
DEMO_PASSWORD = "demo"
DEMO_SENDER = "SMS Info"


class State:
    config: Path | None = None


def fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


def settings(**overrides: object) -> Settings:
    try:
        return load_settings(State.config, **overrides)
    except (OSError, ValueError) as error:
        fail(str(error))


def account_admin() -> AccountAdmin:
    database = Database(settings().database_url)
    upgrade(database.write_engine)
    return AccountAdmin(database)


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
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[bool, typer.Option(help="Create the demo account when absent.")] = False,
) -> None:
    """Serve the REST API (and, embedded, the dispatcher and the simulated SMSC)."""
    import uvicorn

    from smsgate.app import create_app

    config = settings(host=host, port=port)
    if demo:
        ensure_demo_account(AccountAdmin(Database(config.database_url)), config)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


def ensure_demo_account(accounts: AccountAdmin, config: Settings) -> None:
    upgrade(accounts.database.write_engine)
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
    password: Annotated[str, typer.Option(help="The account password.")],
    api_password: Annotated[str | None, typer.Option(help="The API password (pass).")] = None,
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


@account_cli.command("credit")
def account_credit(login: str, value: Annotated[str, typer.Argument(metavar="AMOUNT")]) -> None:
    """Add AMOUNT to the balance (negative to take; never below zero)."""
    balance = run(lambda a: a.credit(login, amount(value)))
    console.print(f"{login} balance {balance}", highlight=False)


@account_cli.command("show")
def account_show(login: str) -> None:
    """Print the account as JSON."""
    shown = run(lambda a: a.show(login))
    sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")


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
    password: Annotated[str | None, typer.Option(help="New account password.")] = None,
    api_password: Annotated[str | None, typer.Option(help="New API password (pass).")] = None,
) -> None:
    """Change the password or the API password; session ids stay valid."""
    run(
        lambda a: a.set_passwords(login, password=password, api_password=api_password),
        f"password changed for {login}",
    )


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
    """Override the flood limit (omit both to return to the platform default)."""
    run(lambda a: a.set_flood_limit(login, limit, window), f"flood limit set for {login}")


@sender_cli.command("add")
def sender_add(login: str, name: str) -> None:
    """Register a sender name."""
    run(lambda a: a.add_sender(login, name), f"sender name {name!r} added to {login}")


@sender_cli.command("remove")
def sender_remove(login: str, name: str) -> None:
    """Remove a registered sender name."""
    run(lambda a: a.remove_sender(login, name), f"sender name {name!r} removed from {login}")


@tariff_cli.command("set")
def tariff_set(login: str, prefix: str, price: str) -> None:
    """Set the price per part for destinations starting with PREFIX."""
    run(lambda a: a.set_tariff(login, prefix, amount(price)), f"{login}: {prefix} costs {price}")


@tariff_cli.command("show")
def tariff_show(login: str) -> None:
    """Print the account's prices by prefix as JSON."""
    prices = run(lambda a: a.tariff(login))
    sys.stdout.write(orjson.dumps(prices, option=orjson.OPT_INDENT_2).decode() + "\n")


def run(action: Callable[[AccountAdmin], T], done: str | None = None) -> T:
    try:
        result = action(account_admin())
    except AdminError as error:
        fail(str(error))
    if done:
        console.print(done, highlight=False)
    return result


def main() -> None:
    app()
