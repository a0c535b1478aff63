"""Warehouse on an embedded DuckDB file; BigQuery SQL is translated with sqlglot.

DuckDB lets one process write a file at a time, and several processes (server, worker, bot)
share this one, so each operation opens the file, does its work and closes it, retrying while
another process holds the lock.

DuckDB's own lock is not enough for that: processes take turns at the file
(``core.warehouse.duckdb_turns``), or committed rows can vanish. Within a process, writes go
one group at a time (``core.warehouse.grouped_writes``), and a busy process may keep its turn
between calls (``hold_while_busy``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from core.warehouse.base import Row
from core.warehouse.duckdb_turns import KeepOpen, Turn
from core.warehouse.grouped_writes import GroupedWrites, existing_keys_sql
from core.warehouse.schema import TABLES, Table

_DUCK_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
}
_LOCK_WAIT_SECONDS = 30.0


@lru_cache(maxsize=512)
def to_duckdb(sql: str) -> str:
    """Translate a BigQuery statement to DuckDB (``@p`` parameters become ``$p``).

    ``x IN UNNEST(@list)`` becomes ``x IN (SELECT * FROM UNNEST($list))``, which DuckDB
    answers with a join: sqlglot's own translation tests every row against the list, a full
    scan (the held-keys query of 18 ids: 26 ms of CPU on 200,000 interactions, 2.4 ms so).
    """
    tree = sqlglot.parse_one(sql, read="bigquery")
    for node in tree.find_all(exp.In):
        listed = node.args.get("unnest")
        if listed is not None:  # a NULL list holds nothing, as in BigQuery
            values = exp.Coalesce(this=listed.expressions[0].copy(), expressions=[exp.Array()])
            rows = exp.select(exp.Star()).from_(exp.Unnest(expressions=[values]))
            node.set("unnest", None)
            node.set("query", rows.subquery())
    return tree.sql("duckdb")


def create_table_sql(table: Table) -> str:
    """DuckDB DDL for ``table``, built as a syntax tree from the schema."""
    columns: list[exp.Expression] = [
        exp.ColumnDef(
            this=exp.to_identifier(column.name),
            kind=exp.DataType.build(_DUCK_TYPES[column.type], dialect="duckdb"),
            constraints=[exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())]
            if column.required
            else [],
        )
        for column in table.columns
    ]
    columns.append(exp.PrimaryKey(expressions=[exp.to_identifier(k) for k in table.key]))
    create = exp.Create(
        this=exp.Schema(this=exp.to_table(table.name), expressions=columns),
        kind="TABLE",
        exists=True,
    )
    return create.sql("duckdb")


@lru_cache(maxsize=64)
def insert_sql(table: Table, *, one_row: bool = False, ignore: bool = True) -> str:
    """DuckDB INSERT of rows given as one list per column (``$1``, ``$2``...), or of one row.

    The lists are unnested side by side into rows: one short statement whatever the count,
    half the CPU of a multi-row VALUES with a placeholder per value (32 interactions: 13.0
    -> 7.4 ms a call). A single row goes as plain VALUES, which costs 1 ms less than that.
    With ``ignore`` rows whose key exists are skipped; without, they are an error (the
    caller has left such rows out).
    """
    names = ", ".join(column.name for column in table.columns)
    verb = "INSERT OR IGNORE INTO" if ignore else "INSERT INTO"
    if one_row:
        return f"{verb} {table.name} ({names}) VALUES ({', '.join('?' * len(table.columns))})"
    lists = ", ".join(
        f"UNNEST(${number}::{_DUCK_TYPES[column.type]}[])"
        for number, column in enumerate(table.columns, start=1)
    )
    return f"{verb} {table.name} ({names}) SELECT {lists}"


@lru_cache(maxsize=32)
def count_sql(table: str) -> str:
    """DuckDB statement counting the rows of ``table``."""
    return exp.select(exp.Count(this=exp.Star())).from_(table).sql("duckdb")


class DuckDbWarehouse:
    """The embedded default warehouse: one DuckDB file under the data directory."""

    def __init__(self, path: Path, *, hold_while_busy: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._turn = Turn.of(path)
        self._writes = GroupedWrites(self._insert_rows, self.query)
        self._keep_open = KeepOpen(self._turn) if hold_while_busy else None

    def close(self) -> None:
        """Give back a turn kept while busy."""
        if self._keep_open is not None:
            self._keep_open.close()

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._keep_open is not None:
            self._keep_open.touch()
        connection = self._turn.open(time.monotonic() + _LOCK_WAIT_SECONDS)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            yield connection
        finally:
            self._turn.close(connection)

    def create_tables(self) -> None:
        """Create all tables if missing, and add the nullable columns a newer schema has."""
        with self._writes.lock, self._connect() as connection:
            for table in TABLES.values():
                connection.execute(create_table_sql(table))
                present = {row[0] for row in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                    [table.name]).fetchall()}  # fmt: skip
                for column in table.columns:
                    if column.name not in present and not column.required:
                        kind = _DUCK_TYPES[column.type]
                        connection.execute(
                            f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"
                        )

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert rows; rows whose key exists are skipped (idempotent writes)."""
        return self._writes.insert(table, rows) if rows else 0

    def _insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert under this process's write lock (``GroupedWrites``), during its turn."""
        spec = TABLES[table]
        held_sql = existing_keys_sql(table)
        with self._connect() as connection:
            if held_sql is None:
                return self._insert_ignoring(connection, spec, rows)
            # Nobody else writes the file now (other processes wait for their turn, this
            # process's handle writes one group at a time), so rows whose key is not there
            # go in with a plain INSERT: OR IGNORE costs about 4 ms of CPU more a statement.
            key = spec.key[0]
            fresh: dict[Any, Mapping[str, Any]] = {}
            for row in rows:
                fresh.setdefault(row[key], row)
            # Keys are almost always new (callers such as store_photos have asked already):
            # insert first, and ask which are held only when that fails. The statement is
            # its own transaction, so a refused one leaves nothing behind.
            try:
                _insert_columns(connection, spec, list(fresh.values()), ignore=False)
            except duckdb.ConstraintException:
                pass
            else:
                return len(fresh)
            held = connection.execute(to_duckdb(held_sql), {"keys": list(fresh)}).fetchall()
            for (value,) in held:
                fresh.pop(value, None)
            if not fresh:
                return 0
            _insert_columns(connection, spec, list(fresh.values()), ignore=False)
        return len(fresh)

    @staticmethod
    def _insert_ignoring(
        connection: duckdb.DuckDBPyConnection, spec: Table, rows: Sequence[Mapping[str, Any]]
    ) -> int:
        with _transaction(connection):
            before = _scalar(connection.execute(count_sql(spec.name)).fetchone())
            _insert_columns(connection, spec, rows, ignore=True)
            after = _scalar(connection.execute(count_sql(spec.name)).fetchone())
        return after - before

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a BigQuery-dialect query on DuckDB."""
        with self._connect() as connection:
            cursor = connection.execute(to_duckdb(sql), dict(params or {}))
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a BigQuery-dialect DML statement on DuckDB."""
        with self._writes.lock, self._connect() as connection:
            result = connection.execute(to_duckdb(sql), dict(params or {})).fetchone()
        return int(result[0]) if result else 0

    def ping(self) -> None:
        """Open the file once."""
        with self._connect() as connection:
            connection.execute("SELECT 1")


@contextmanager
def _transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction, rolled back if it fails."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _insert_columns(
    connection: duckdb.DuckDBPyConnection,
    spec: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore: bool,
) -> None:
    """Insert ``rows`` in one statement (executemany costs milliseconds per row)."""
    if len(rows) == 1:
        values = [rows[0].get(column.name) for column in spec.columns]
        connection.execute(insert_sql(spec, one_row=True, ignore=ignore), values)
        return
    columns = [[row.get(column.name) for row in rows] for column in spec.columns]
    connection.execute(insert_sql(spec, ignore=ignore), columns)


def _scalar(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row else 0
