"""One warehouse writer at a time in this process.

Request handlers write from a thread pool. DuckDB refuses a commit that collides with
another connection's concurrent insert of the same key (two people sending the same photo at
once) instead of skipping it, so the server funnels writes through one lock; the idempotent
insert then sees the first row and skips the second. Reads stay concurrent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from core.warehouse import Row, Warehouse


class SerializedWrites:
    """A Warehouse whose inserts and DML statements run one at a time."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def create_tables(self) -> None:
        """Create every table if missing."""
        with self._lock:
            self.inner.create_tables()

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append rows (skipping existing keys) while holding the write lock."""
        with self._lock:
            return self.inner.insert(table, rows)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a query (no lock)."""
        return self.inner.query(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a DML statement while holding the write lock."""
        with self._lock:
            return self.inner.execute(sql, params)

    def ping(self) -> None:
        """Check the warehouse is reachable."""
        self.inner.ping()
