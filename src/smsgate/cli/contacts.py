"""``smsgate admin contacts``: contact bases, for detailed statistics."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import Progress

from smsgate.cli.context import (
    console,
    errors,
    fail,
    run_contacts,
)

contacts_cli = typer.Typer(no_args_is_help=True, help="Contact bases, for detailed statistics.")


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
    if outcome.repeated:
        lines.append(
            f"{outcome.repeated:,} rows repeated the phone of an earlier row: "
            "each phone has its last row's name and fields"
        )
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
