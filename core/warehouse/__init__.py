"""Warehouse port, schema and adapters, chosen from settings by ``open_warehouse``."""

from __future__ import annotations

from core.settings import Settings
from core.warehouse.base import Row, Warehouse
from core.warehouse.schema import TABLES

__all__ = ["TABLES", "Row", "Warehouse", "open_warehouse"]


def open_warehouse(
    settings: Settings, *, create: bool = True, hold_while_busy: bool = False
) -> Warehouse:
    """Build the Warehouse that settings ask for, creating its tables when asked.

    ``hold_while_busy``: a process that answers many short requests (the server) keeps the
    embedded DuckDB file open between them; BigQuery has nothing to hold.
    """
    warehouse: Warehouse
    if settings.warehouse.backend == "bigquery":
        from google.cloud import bigquery

        from core.warehouse.bigquery_backend import BigQueryWarehouse

        client = bigquery.Client(project=settings.gcp.project)
        warehouse = BigQueryWarehouse(
            client, settings.warehouse.dataset, settings.warehouse.location
        )
    else:
        from core.warehouse.duckdb_backend import DuckDbWarehouse

        warehouse = DuckDbWarehouse(settings.warehouse_path, hold_while_busy=hold_while_busy)
    if create:
        warehouse.create_tables()
    return warehouse
