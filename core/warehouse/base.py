"""The Warehouse port: append rows and run BigQuery-dialect queries with named parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

Row = dict[str, Any]


@runtime_checkable
class Warehouse(Protocol):
    """Analytical store of interactions, feedback, images, versions, events and metrics."""

    def create_tables(self) -> None:
        """Create every table in ``TABLES`` if missing."""

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append rows, skipping rows whose key is already present; return rows written."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a BigQuery-dialect SELECT with ``@name`` parameters."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a BigQuery-dialect DML statement; return affected rows when known."""

    def ping(self) -> None:
        """Raise when the warehouse cannot be reached."""

    def close(self) -> None:
        """Release what the adapter holds (connections); it is not used afterwards."""
