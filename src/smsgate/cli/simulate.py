"""``smsgate simulate``: drive the simulated SMSC of a running server."""

from __future__ import annotations

from typing import Annotated

import typer

from smsgate.cli.context import (
    console,
    fail,
    open_database,
    settings,
)
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.domain.errors import InvalidArgument
from smsgate.domain.inbound_routing import RoutingRuleError, normalize_number
from smsgate.domain.segments import segment_text

simulate_cli = typer.Typer(no_args_is_help=True, help="Drive the simulated SMSC of a server.")


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
