"""The ``smsgate`` command: serve the API, and administer the platform."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from smsgate.cli import accounts, connectors, contacts, inbound, numbering, serving, simulate
from smsgate.cli.context import State, print_error
from smsgate.store.outage import unavailable

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.command()(serving.serve)
app.command()(serving.worker)
app.command()(serving.send)

admin = typer.Typer(
    no_args_is_help=True,
    help="Administer accounts, sender names, tariffs, incoming numbers, contacts, the "
    "numbering plan, and see the connectors.",
)
app.add_typer(admin, name="admin")
admin.add_typer(accounts.account_cli, name="account")
admin.add_typer(accounts.sender_cli, name="sender")
admin.add_typer(accounts.tariff_cli, name="tariff")
admin.add_typer(numbering.numbering_cli, name="numbering")
admin.add_typer(inbound.inbound_cli, name="inbound")
admin.add_typer(contacts.contacts_cli, name="contacts")
admin.command("connectors")(connectors.show_connectors)
app.add_typer(simulate.simulate_cli, name="simulate")


@app.callback()
def main_options(
    config: Annotated[Path | None, typer.Option(help="A TOML settings file.")] = None,
) -> None:
    State.config = config


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
