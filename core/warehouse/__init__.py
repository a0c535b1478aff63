"""Warehouse port, schema and adapters, chosen from settings by ``open_warehouse``."""

from __future__ import annotations

from core.settings import Settings
from core.warehouse.base import Row, Warehouse
from core.warehouse.schema import TABLES

__all__ = ["TABLES", "Row", "Warehouse", "open_warehouse"]


def open_warehouse(settings: Settings, *, create: bool = True) -> Warehouse:
    """Build the Warehouse that settings ask for, creating its tables when asked."""
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

        warehouse = DuckDbWarehouse(settings.warehouse_path)
    if create:
        warehouse.create_tables()
    return warehouse
