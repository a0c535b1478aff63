"""How the server uses the warehouse: grouped writes, one at a time, DuckDB kept open while busy.

Request handlers write from a thread pool. DuckDB refuses a commit that collides with
another connection's concurrent insert of the same key (two people sending the same photo at
once) instead of skipping it, so writes go through one lock. Rows that arrive while another
write holds the lock are combined into one insert per table (a group commit: one commit
instead of one per request); each caller still learns how many of its own rows were new.
Reads stay concurrent.

The embedded DuckDB warehouse opens and closes its file for every operation so that several
processes can share it; opening costs tens of milliseconds, while a second connection to a
database this process already has open costs almost nothing. So while requests keep coming,
the server holds one extra connection open, and lets go after a short idle spell, or after
holding it ``max_hold`` seconds in a row, so the worker and the bot get their turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from core.warehouse import TABLES, Row, Warehouse
from core.warehouse.duckdb_backend import DuckDbWarehouse

log = logging.getLogger(__name__)

# Tables whose inserts may be combined, with the query that finds which keys exist already.
EXISTING_KEYS_SQL = {
    "images": "SELECT image_id AS k FROM images WHERE image_id IN UNNEST(@keys)",
    "interactions": (
        "SELECT interaction_id AS k FROM interactions WHERE interaction_id IN UNNEST(@keys)"
    ),
    "feedback": "SELECT feedback_id AS k FROM feedback WHERE feedback_id IN UNNEST(@keys)",
}


@dataclass
class _Write:
    table: str
    rows: list[Mapping[str, Any]]
    written: int | None = None
    error: Exception | None = None


class KeepOpen:
    """Holds a DuckDB database open in this process while it is in use."""

    def __init__(
        self,
        warehouse: DuckDbWarehouse,
        *,
        idle: float = 0.5,
        max_hold: float = 3.0,
        rest: float = 0.3,
    ) -> None:
        self.warehouse = warehouse
        self.idle, self.max_hold, self.rest = idle, max_hold, rest
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0
        self._last_use = 0.0
        self._resting_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._release_loop, name="duckdb-keepopen")
        self._thread.daemon = True
        self._thread.start()

    def touch(self) -> None:
        """Note a use; open the held connection unless resting or another process has the file."""
        now = time.monotonic()
        with self._lock:
            self._last_use = now
            if self._connection is not None or now < self._resting_until:
                return
            self._connection = self.warehouse.hold()
            if self._connection is None:
                return  # another process has the file; the operation itself will wait
            self._opened_at = now

    def close(self) -> None:
        """Let go of the file for good."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._release(resting=False)

    def _release_loop(self) -> None:
        while not self._stop.wait(self.idle / 4):
            now = time.monotonic()
            with self._lock:
                due = self._connection is not None and (
                    now - self._last_use > self.idle or now - self._opened_at > self.max_hold
                )
            if due:
                self._release(resting=True)

    def _release(self, *, resting: bool) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if resting:
                self._resting_until = time.monotonic() + self.rest
        if connection is not None:
            self.warehouse.let_go(connection)


class ServerWarehouse:
    """The Warehouse the routes use: serialized writes, DuckDB held open while busy."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self._write_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Write] = []
        self._keep_open = KeepOpen(inner) if isinstance(inner, DuckDbWarehouse) else None

    def _touch(self) -> None:
        if self._keep_open is not None:
            self._keep_open.touch()

    def create_tables(self) -> None:
        """Create every table if missing."""
        with self._write_lock:
            self.inner.create_tables()

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append rows (skipping existing keys), combined with other waiting writes."""
        self._touch()
        if table not in EXISTING_KEYS_SQL:
            with self._write_lock:
                return self.inner.insert(table, rows)
        write = _Write(table, list(rows))
        with self._pending_lock:
            self._pending.append(write)
        with self._write_lock:
            if write.written is None and write.error is None:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._flush(batch)
        if write.error is not None:
            raise write.error
        assert write.written is not None  # noqa: S101  (set by whoever flushed it)
        return write.written

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
            writes[0].written = self.inner.insert(table, writes[0].rows)
            return
        key = TABLES[table].key[0]
        keys = [row[key] for write in writes for row in write.rows]
        seen = {row["k"] for row in self.inner.query(EXISTING_KEYS_SQL[table], {"keys": keys})}
        combined: list[Mapping[str, Any]] = []
        for write in writes:
            fresh = [row for row in write.rows if row[key] not in seen]
            seen.update(row[key] for row in fresh)
            write.written = len(fresh)
            combined += fresh
        if combined:
            self.inner.insert(table, combined)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a query (no lock)."""
        self._touch()
        return self.inner.query(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a DML statement while holding the write lock."""
        self._touch()
        with self._write_lock:
            return self.inner.execute(sql, params)

    def ping(self) -> None:
        """Check the warehouse is reachable."""
        self.inner.ping()

    def close(self) -> None:
        """Release the held connection."""
        if self._keep_open is not None:
            self._keep_open.close()
