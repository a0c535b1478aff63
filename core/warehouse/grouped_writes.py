"""Inserts from the threads of one process, written one group at a time.

DuckDB refuses a commit that collides with another connection's concurrent insert of the
same key (two people sending the same photo at once) instead of skipping the row, so the
threads of a process write one at a time. Rows that arrive while another write is under way
are combined into one insert per table (a group commit: one commit instead of one per caller),
and each caller still learns how many of its own rows were new.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.warehouse.base import Row
from core.warehouse.schema import TABLES

Insert = Callable[[str, Sequence[Mapping[str, Any]]], int]
Query = Callable[[str, Mapping[str, Any]], list[Row]]


@dataclass
class _Write:
    table: str
    rows: list[Mapping[str, Any]]
    written: int | None = None
    error: Exception | None = None


def existing_keys_sql(table: str) -> str | None:
    """The query naming which of ``@keys`` a table holds; None for composite keys."""
    key = TABLES[table].key
    if len(key) != 1:
        return None
    return f"SELECT {key[0]} AS k FROM {table} WHERE {key[0]} IN UNNEST(@keys)"  # noqa: S608


def held_keys(query: Query, table: str, keys: Sequence[Any]) -> set[Any]:
    """Which of ``keys`` a single-key table holds, asked with ``query``."""
    sql = existing_keys_sql(table)
    if sql is None:
        raise ValueError(f"{table} has a composite key")
    return {row["k"] for row in query(sql, {"keys": list(keys)})}


class GroupedWrites:
    """Serialises this process's writes and combines inserts that wait for each other."""

    def __init__(self, insert: Insert, query: Query) -> None:
        self._insert = insert
        self._query = query
        self.lock = threading.Lock()  # held by every write of this process
        self._pending_lock = threading.Lock()
        self._pending: list[_Write] = []

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``rows`` (skipping existing keys) with whatever else is waiting."""
        if existing_keys_sql(table) is None:
            with self.lock:
                return self._insert(table, rows)
        write = _Write(table, list(rows))
        with self._pending_lock:
            self._pending.append(write)
        with self.lock:
            if write.written is None and write.error is None:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._flush(batch)
        if write.error is not None:
            raise write.error
        assert write.written is not None  # noqa: S101  (set by whoever flushed it)
        return write.written

    def waiting(self) -> int:
        """Writes queued behind the one under way."""
        with self._pending_lock:
            return len(self._pending)

    def _flush(self, batch: list[_Write]) -> None:
        by_table: dict[str, list[_Write]] = defaultdict(list)
        for write in batch:
            by_table[write.table].append(write)
        for table, writes in by_table.items():
            try:
                self._flush_table(table, writes)
            except Exception as exc:  # every waiting caller hears about it
                for write in writes:
                    write.error = exc

    def _flush_table(self, table: str, writes: list[_Write]) -> None:
        if len(writes) == 1:
            writes[0].written = self._insert(table, writes[0].rows)
            return
        key = TABLES[table].key[0]
        keys = [row[key] for write in writes for row in write.rows]
        seen = held_keys(self._query, table, keys)  # only single-key tables are grouped
        combined: list[Mapping[str, Any]] = []
        for write in writes:
            fresh = [row for row in write.rows if row[key] not in seen]
            seen.update(row[key] for row in fresh)
            write.written = len(fresh)
            combined += fresh
        if combined:
            self._insert(table, combined)
