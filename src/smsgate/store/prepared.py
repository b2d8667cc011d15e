"""Statements compiled once and run straight on the driver's cursor.

SQLAlchemy spends ~200 µs per statement here building, caching and wrapping it, against
~8 µs for SQLite to run it. The few statements on the request path and in the per-part loops
are therefore written in SQLAlchemy Core as usual, compiled once per dialect, and executed on
the DBAPI cursor of the same connection (so inside the same transaction), with the column
types' own bind and result processors: ``Money`` and ``UtcDateTime`` behave exactly as
elsewhere. Statements here must not use expanding ``IN`` parameters.

``BulkInsert`` adds many rows the fastest way each driver offers: COPY on PostgreSQL, the
prepared INSERT run by ``executemany`` on SQLite (in-process, where that is already the
fast path). ``PreparedBatch`` does the same for any statement run once per row of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Table,
    any_,
    bindparam,
    column,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.selectable import FromClause, Select
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    import psycopg

from smsgate.store.database import driver_cursor

Processor = Callable[[Any], Any] | None
InsertT = TypeVar("InsertT", bound=Insert)
# A result column to convert: its index and its processor.
ColumnConversion = tuple[int, Callable[[Any], Any]]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind parameter names, in the order the SQL expects them
    positional: bool
    binds: dict[str, Processor]
    literals: dict[str, Any]  # values the statement itself holds, such as the 0 in ``>= 0``
    dialect: Dialect
    result_types: tuple[TypeEngine[Any], ...]
    # The result's conversions once known (see ``conversions``): a one-item list.
    _conversions: list[list[ColumnConversion] | None] = field(default_factory=list)

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = []
        for name in self.names:
            value = params[name] if name in params else self.literals[name]
            processor = self.binds[name]
            values.append(
                processor(value) if processor is not None and value is not None else value
            )
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def bind_columns(self, columns: Mapping[str, Sequence[Any]], count: int) -> list[Any]:
        """Parameters for ``count`` executions from one sequence of values per name."""
        rows = list(zip(*self.convert_columns(columns, count), strict=True))
        if self.positional:
            return rows
        return [dict(zip(self.names, row, strict=True)) for row in rows]

    def convert_columns(
        self, columns: Mapping[str, Sequence[Any]], count: int
    ) -> list[Sequence[Any]]:
        """The driver's values of each parameter, in ``names`` order, for ``count`` rows.

        Conversions are memoised per value: a batch repeats the same times and prices.
        """
        converted: list[Sequence[Any]] = []
        for name in self.names:
            values = columns.get(name)
            if values is None:
                values = [self.literals[name]] * count
            processor = self.binds[name]
            if processor is not None:
                memo: dict[Any, Any] = {None: None}
                values = [
                    memo[value] if value in memo else memo.setdefault(value, processor(value))
                    for value in values
                ]
            converted.append(values)
        return converted

    def conversions(self, cursor: Any) -> list[ColumnConversion] | None:
        """(column index, result processor) of the result's columns that have one; None when
        the statement returns no rows. Worked out from the first result's ``description``
        (the driver's column type codes, which some processors depend on: psycopg's NUMERIC),
        and kept: a statement's result always has the same columns, and building
        ``description`` costs psycopg ~20 µs a statement."""
        if not self._conversions:
            description = cursor.description
            self._conversions.append(self._conversions_of(description) if description else None)
        return self._conversions[0]

    def _conversions_of(self, description: Sequence[Sequence[Any]]) -> list[ColumnConversion]:
        # sqlite3 gives no column types.
        type_codes = (
            (None,) * len(self.result_types)
            if self.dialect.name == "sqlite"
            else [column[1] for column in description]
        )
        processors = (
            result_type.result_processor(self.dialect, type_code)
            for result_type, type_code in zip(self.result_types, type_codes, strict=True)
        )
        return [
            (index, processor)
            for index, processor in enumerate(processors)
            if processor is not None
        ]


class Prepared:
    """One statement, compiled lazily for each dialect it meets.

    ``arrays``: the parameters that are arrays, sent to PostgreSQL in binary: psycopg's text
    form of an array is built in Python, at four times the cost per element.
    """

    def __init__(self, statement: Select[Any] | UpdateBase, arrays: Iterable[str] = ()) -> None:
        self.statement = statement
        self.arrays = tuple(arrays)
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
        columns = list(self.statement.exported_columns)
        sql = compiled.string
        if dialect.name == "postgresql":
            for name in self.arrays:
                sql = sql.replace(f"%({name})s", f"%({name})b")
        return _Compiled(
            sql=sql,
            names=names,
            positional=positional,
            binds={
                name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                for name, bind in compiled.binds.items()
            },
            literals={
                name: bind.value for name, bind in compiled.binds.items() if not bind.required
            },
            dialect=dialect,
            result_types=tuple(column.type.dialect_impl(dialect) for column in columns),
        )

    def rows(self, connection: Connection, **params: Any) -> list[tuple[Any, ...]]:
        compiled = self.compiled(connection.dialect)
        cursor = driver_cursor(connection)
        cursor.execute(compiled.sql, compiled.bind(params))
        converted = compiled.conversions(cursor)
        if converted is None:
            return []
        fetched = cursor.fetchall()
        if not converted:
            return cast(list[tuple[Any, ...]], fetched)
        rows = []
        for row in fetched:
            values = list(row)
            for index, processor in converted:
                values[index] = processor(values[index])
            rows.append(tuple(values))
        return rows

    def scalar(self, connection: Connection, **params: Any) -> Any:
        """The first column of the first row, or None (a point read on the request path)."""
        compiled = self.compiled(connection.dialect)
        cursor = driver_cursor(connection)
        cursor.execute(compiled.sql, compiled.bind(params))
        converted = compiled.conversions(cursor)
        # All of it, not fetchone(): on the reused cursor an unfinished SQLite statement would
        # keep its read transaction (and the WAL's snapshot) open until the cursor's next use.
        fetched = cursor.fetchall()
        if not fetched:
            return None
        row = fetched[0]
        # Conversions come in column order: the first is column 0's, if it has one.
        for index, processor in converted or ():
            return processor(row[0]) if index == 0 else row[0]
        return row[0]

    def execute(self, connection: Connection, **params: Any) -> int:
        """Run a statement without results; returns the row count."""
        compiled = self.compiled(connection.dialect)
        cursor = driver_cursor(connection)
        cursor.execute(compiled.sql, compiled.bind(params))
        return int(cursor.rowcount)

    def execute_columns(
        self, connection: Connection, columns: Mapping[str, Sequence[Any]], count: int
    ) -> int:
        """Run ``count`` times with one sequence of values per parameter name; returns the
        total row count."""
        compiled = self.compiled(connection.dialect)
        cursor = driver_cursor(connection)
        cursor.executemany(compiled.sql, compiled.bind_columns(columns, count))
        return int(cursor.rowcount)


class BulkInsert:
    """Rows into one table: binary COPY on PostgreSQL (one stream instead of a statement per
    row, and no text to format and parse), the prepared INSERT's ``executemany`` elsewhere; the
    column types convert values alike."""

    def __init__(self, table: Table, names: Sequence[str]) -> None:
        self.table = table
        self.names = tuple(names)
        self._insert = Prepared(insert(table).values({name: bindparam(name) for name in names}))
        # Binary COPY needs each column's exact type: read from the catalogue once.
        self._type_oids: list[int] | None = None

    def execute_columns(
        self, connection: Connection, columns: Mapping[str, Sequence[Any]], count: int
    ) -> None:
        """Insert ``count`` rows given as one sequence of values per column name."""
        if connection.dialect.name != "postgresql":
            self._insert.execute_columns(connection, columns, count)
            return
        compiled = self._insert.compiled(connection.dialect)
        by_name = dict(zip(compiled.names, compiled.convert_columns(columns, count), strict=True))
        quote = connection.dialect.identifier_preparer.quote
        table = quote(self.table.name)
        listed = ", ".join(quote(name) for name in self.names)
        dbapi_connection = connection.connection.dbapi_connection
        cursor = cast("psycopg.Connection[Any]", dbapi_connection).cursor()
        try:
            if self._type_oids is None:
                self._type_oids = self._read_type_oids(cursor, table)
            statement = f"COPY {table} ({listed}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement.encode()) as copy:
                copy.set_types(self._type_oids)
                for row in zip(*(by_name[name] for name in self.names), strict=True):
                    copy.write_row(row)
        finally:
            cursor.close()

    def _read_type_oids(self, cursor: psycopg.Cursor[Any], table: str) -> list[int]:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        )
        oids = {str(name): int(oid) for name, oid in cursor.fetchall()}
        return [oids[name] for name in self.names]


class BatchRows:
    """The rows of a batch as its statement names them (see ``PreparedBatch``): each row's
    value of a column by ``rows[name]``, and ``into(insert)`` for an INSERT of the rows."""

    def __init__(self, columns: Mapping[str, TypeEngine[Any]], *, set_based: bool) -> None:
        self.columns = dict(columns)
        # The backend's INSERT, which can say what to do on a conflict of keys.
        self.insert: Callable[[Table], postgresql.Insert | sqlite.Insert] = (
            postgresql.insert if set_based else sqlite.insert
        )
        self._unnested = (
            func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, kind in columns.items()))
            .table_valued(*(column(name, kind) for name, kind in columns.items()))
            .render_derived(name="batch")
            if set_based
            else None
        )

    def __getitem__(self, name: str) -> ColumnElement[Any]:
        if self._unnested is None:
            return bindparam(name, type_=self.columns[name])
        return self._unnested.c[name]

    @property
    def table(self) -> FromClause:
        """The rows as a table to join (set-based only)."""
        if self._unnested is None:
            raise TypeError("only set-based rows are a table")
        return self._unnested

    def into(self, statement: InsertT, **constants: Any) -> InsertT:
        """``statement`` inserting the rows, in the order given, with ``constants`` in the
        columns so named."""
        if self._unnested is None:
            return statement.values({name: self[name] for name in self.columns} | constants)
        values = [*self._unnested.c, *(literal(value) for value in constants.values())]
        return statement.from_select([*self.columns, *constants], select(*values))


class PreparedBatch:
    """A statement run for every row of a batch, written once by ``build`` from the rows'
    values (``BatchRows``).

    On PostgreSQL it runs once, over the rows sent as one array per column (``unnest``): a
    statement per row costs ~12 µs of the driver's Python per row there, against ~1.6 µs, and
    a round of execution in the server each. On SQLite (in-process) the prepared per-row
    statement run by ``executemany`` is already the fast path.
    """

    def __init__(
        self, columns: Mapping[str, TypeEngine[Any]], build: Callable[[BatchRows], UpdateBase]
    ) -> None:
        self.names = tuple(columns)
        self._per_row = Prepared(build(BatchRows(columns, set_based=False)))
        self._set_based = Prepared(build(BatchRows(columns, set_based=True)), arrays=columns)

    def execute_columns(
        self,
        connection: Connection,
        columns: Mapping[str, Sequence[Any]],
        count: int,
        **params: Any,
    ) -> int:
        """Run for ``count`` rows given as one sequence of values per column name; ``params``
        are the statement's other parameters, the same for every row. Returns the row count."""
        if not count:
            return 0
        if connection.dialect.name != "postgresql":
            shared = {name: [value] * count for name, value in params.items()}
            return self._per_row.execute_columns(connection, {**columns, **shared}, count)
        arrays = {name: list(columns[name]) for name in self.names}
        return self._set_based.execute(connection, **arrays, **params)

    def execute_many(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]], **params: Any
    ) -> None:
        """Run for each mapping of ``rows`` (see ``execute_columns``)."""
        columns = {name: [row[name] for row in rows] for name in self.names}
        self.execute_columns(connection, columns, len(rows), **params)


IN_LIST_SIZES = (1, 8, 64, 512)
# Builds a statement from ``among``: ``among(column)`` is the condition "column is one of the
# values".
Among = Callable[[ColumnElement[Any]], ColumnElement[bool]]


class PreparedIn:
    """A statement on a list of values (``column IN (...)``), written once by ``build``.

    On PostgreSQL the values go as one array (``column = ANY(...)``): one statement for any
    number of values, which psycopg and the server each prepare once. On SQLite (no arrays)
    it is prepared for a few ``IN`` list sizes; values go in chunks of the largest size, and a
    short chunk is padded with repeats of its last value, which selects nothing more.
    """

    def __init__(self, build: Callable[[Among], Select[Any] | UpdateBase]) -> None:
        self._names = [f"in_{i}" for i in range(IN_LIST_SIZES[-1])]
        self._by_size = {size: Prepared(build(self._in_list(size))) for size in IN_LIST_SIZES}
        self._as_array = Prepared(build(_among_array), arrays=("among",))

    def _in_list(self, size: int) -> Among:
        def among(column: ColumnElement[Any]) -> ColumnElement[bool]:
            return column.in_([bindparam(name) for name in self._names[:size]])

        return among

    def rows(
        self, connection: Connection, values: Iterable[Any], **params: Any
    ) -> list[tuple[Any, ...]]:
        distinct = sorted(set(values))
        if connection.dialect.name == "postgresql":
            return self._as_array.rows(connection, among=distinct, **params) if distinct else []
        found: list[tuple[Any, ...]] = []
        largest = IN_LIST_SIZES[-1]
        for start in range(0, len(distinct), largest):
            chunk = distinct[start : start + largest]
            size = min(size for size in IN_LIST_SIZES if size >= len(chunk))
            chunk += [chunk[-1]] * (size - len(chunk))
            listed = dict(zip(self._names[:size], chunk, strict=True))
            found.extend(self._by_size[size].rows(connection, **params, **listed))
        return found


def _among_array(column: ColumnElement[Any]) -> ColumnElement[bool]:
    return column == any_(bindparam("among", type_=ARRAY(column.type)))
