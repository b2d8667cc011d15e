"""``smsgate admin numbering``: the numbering plan in force."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smsgate.cli.context import (
    console,
    fail,
    open_database,
    print_json,
    run,
    settings,
)
from smsgate.domain.errors import InvalidArgument
from smsgate.domain.numbering import NumberingError
from smsgate.domain.phone import normalize_phone
from smsgate.services import numbering

numbering_cli = typer.Typer(no_args_is_help=True, help="The numbering plan: time zones by number.")


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


def numbering_in_force() -> numbering.Numbering:
    try:
        return numbering.load_numbering(open_database())
    except NumberingError as error:
        fail(f"the imported numbering does not load: {error}")
