"""``smsgate admin connectors``: the binds of the running connectors."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from smsgate.cli.context import (
    console,
    fail,
    print_json,
    settings,
)
from smsgate.delivery.status import read_status, status_dir


def show_connectors(
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
