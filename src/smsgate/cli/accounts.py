"""``smsgate admin account``, ``sender`` and ``tariff``: accounts, their sender names, their
prices and their webhook."""

from __future__ import annotations

import socket
from typing import Annotated
from urllib.parse import urlsplit

import typer

from smsgate.cli.context import (
    FROM_STDIN,
    amount,
    console,
    errors,
    fail,
    print_json,
    read_secret,
    run,
    run_inbound,
    settings,
)
from smsgate.domain.money import decimal_text
from smsgate.domain.urls import is_public_address
from smsgate.services.accounts import AccountAdmin

account_cli = typer.Typer(no_args_is_help=True, help="Accounts.")
sender_cli = typer.Typer(no_args_is_help=True, help="Registered sender names.")
tariff_cli = typer.Typer(no_args_is_help=True, help="Prices by destination prefix.")


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
    console.print(f"{login} balance {decimal_text(balance)}", markup=False, highlight=False)


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
    console.print(
        f"{revoked} session id{'s' if revoked != 1 else ''} revoked for {login}", markup=False
    )


@account_cli.command("dynamic-sender")
def account_dynamic_sender(login: str, enabled: Annotated[bool, typer.Argument()] = True) -> None:
    """Allow (or with `false` forbid) any sender name."""
    done = f"dynamic sender {'on' if enabled else 'off'} for {login}"
    run(lambda a: a.set_dynamic_sender(login, enabled), done)


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
