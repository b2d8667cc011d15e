"""``key IN (SELECT key ... LIMIT n)`` written so that PostgreSQL runs it by the key's index.

The claims of queued work (parts, the simulator's reports, report builds) update the few rows
a limited subquery picks. PostgreSQL plans ``IN (subquery)`` as a join, and for a table of
tens of thousands of rows it hashes the subquery and scans the whole table: a claim of 500
parts among 60,000 rows took 25.9 ms to execute, and more as the table grows.
``= ANY(ARRAY(subquery))`` runs the subquery once and then looks each key up in the primary
key: 5.7 ms, most of it updating the 500 rows. SQLite already looks the keys up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler


class AmongSelected(ColumnElement[bool]):
    """The condition "``key`` is one of the keys ``selected`` returns"."""

    type = Boolean()
    # A condition in itself: without this, a dialect with no boolean type compares it to 1,
    # which SQLite then cannot look up by index.
    _is_implicitly_boolean = True
    # Not in SQLAlchemy's statement cache: a Prepared statement compiles it once per dialect,
    # and the rare sweeps that run it through connection.execute compile it each time.
    inherit_cache = False

    def __init__(self, key: ColumnElement[Any], selected: Select[Any]) -> None:
        self.column = key
        self.selected = selected.scalar_subquery()

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.column._from_objects)


@compiles(AmongSelected)
def _in_subquery(element: AmongSelected, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {compiler.process(element.selected, **kw)}"


@compiles(AmongSelected, "postgresql")
def _any_array(element: AmongSelected, compiler: SQLCompiler, **kw: Any) -> str:
    key = compiler.process(element.column, **kw)
    return f"{key} = ANY(ARRAY{compiler.process(element.selected, **kw)})"
