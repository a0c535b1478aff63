"""Warehouse port, schema and adapters, chosen from settings by ``open_warehouse``."""

from __future__ import annotations

from core.settings import Settings
from core.warehouse.base import Row, Warehouse
from core.warehouse.schema import TABLES

__all__ = ["TABLES", "Row", "Warehouse", "open_warehouse"]


def open_warehouse(
    settings: Settings, *, create: bool = True, hold_while_busy: bool = False
) -> Warehouse:
    """Build the Warehouse that settings ask for, ready for use when ``create`` is set.

    Ready means: the embedded DuckDB file gains its tables; on BigQuery the dataset and
    tables are only checked (Terraform makes them, infra/modules/warehouse), so start-up
    needs nothing beyond reading them (MissingInfrastructure when one is missing).
    ``hold_while_busy``: a process that answers many short requests (the server) or writes
    often (a worker flushing its log) keeps the embedded DuckDB file open between them;
    BigQuery has nothing to hold.
    """
    if settings.warehouse.backend == "bigquery":
        from google.cloud import bigquery

        from core.warehouse.bigquery_backend import BigQueryWarehouse

        client = bigquery.Client(project=settings.gcp.project)
        remote = BigQueryWarehouse(client, settings.warehouse.dataset, settings.warehouse.location)
        if create:
            remote.check_tables()
        return remote
    from core.warehouse.duckdb_backend import DuckDbWarehouse

    local = DuckDbWarehouse(settings.warehouse_path, hold_while_busy=hold_while_busy)
    if create:
        try:
            local.create_tables()
        except BaseException:
            local.close()  # a start that meets a held file leaves no keep-open thread behind
            raise
    return local
