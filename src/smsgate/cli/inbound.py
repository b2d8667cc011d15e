"""``smsgate admin inbound``: incoming numbers and unrouted messages."""

from __future__ import annotations

from typing import Annotated

import typer

from smsgate.cli.context import (
    console,
    print_json,
    run_inbound,
)
from smsgate.services.inbound_admin import MAX_UNROUTED_LISTED, UNROUTED_LIST_LIMIT

inbound_cli = typer.Typer(no_args_is_help=True, help="Incoming numbers and unrouted messages.")


@inbound_cli.command("add")
def inbound_add(
    login: str,
    number: str,
    prefix: Annotated[str | None, typer.Option(help="Only texts starting with this word.")] = None,
) -> None:
    """Route incoming messages to NUMBER (whose first word is PREFIX, in any case) to LOGIN."""
    route = run_inbound(lambda a: a.add_number(login, number, prefix))
    console.print(f"{route} routed to {login}", markup=False, highlight=False)


@inbound_cli.command("remove")
def inbound_remove(
    login: str,
    number: str,
    prefix: Annotated[str | None, typer.Option(help="The route's prefix.")] = None,
) -> None:
    """Stop routing NUMBER (with PREFIX) to LOGIN."""
    route = run_inbound(lambda a: a.remove_number(login, number, prefix))
    console.print(f"{route} no longer routed to {login}", markup=False, highlight=False)


@inbound_cli.command("list")
def inbound_list(login: Annotated[str | None, typer.Argument()] = None) -> None:
    """Print the incoming numbers of LOGIN (or of every account) as JSON."""
    print_json(run_inbound(lambda a: a.list_numbers(login)))


@inbound_cli.command("unrouted")
def inbound_unrouted(
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_UNROUTED_LISTED, help="How many of the newest.")
    ] = UNROUTED_LIST_LIMIT,
) -> None:
    """Print incoming messages that no account owns as JSON, oldest first."""
    print_json(run_inbound(lambda a: a.unrouted(limit)))
