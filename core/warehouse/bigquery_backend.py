"""Warehouse on BigQuery: day-partitioned tables built from the shared schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from core.errors import ConfigurationError, MissingInfrastructure
from core.warehouse.base import Row
from core.warehouse.schema import TABLES, Table

_SCALAR_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"),  # before int: bool is an int
    (int, "INT64"),
    (float, "FLOAT64"),
    (str, "STRING"),
    (dt.datetime, "TIMESTAMP"),
    (dt.date, "DATE"),
)


def bigquery_table(project: str, dataset: str, table: Table) -> bigquery.Table:
    """Return the BigQuery table definition of ``table``."""
    schema = [
        bigquery.SchemaField(c.name, c.type, mode=c.mode, description=c.description)
        for c in table.columns
    ]
    definition = bigquery.Table(f"{project}.{dataset}.{table.name}", schema=schema)
    definition.description = table.description
    definition.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=table.partition
    )
    if table.clustering:
        definition.clustering_fields = list(table.clustering)
    return definition


def query_parameter(name: str, value: Any) -> bigquery.ScalarQueryParameter | Any:
    """Turn a Python value into a typed BigQuery query parameter."""
    if isinstance(value, list | tuple):
        kind = _type_of(value[0]) if value else "STRING"
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    return bigquery.ScalarQueryParameter(name, _type_of(value), value)


def _type_of(value: Any) -> str:
    for python_type, kind in _SCALAR_TYPES:
        if isinstance(value, python_type):
            return kind
    if value is None:
        return "STRING"
    raise TypeError(f"no BigQuery type for {type(value).__name__}")


class BigQueryWarehouse:
    """BigQuery adapter; queries run with the dataset as default so SQL names bare tables."""

    def __init__(self, client: bigquery.Client, dataset: str, location: str = "EU") -> None:
        self.client = client
        self.project = client.project
        self.dataset = dataset
        self.location = location

    def create_tables(self) -> None:
        """Refuse: on GCP the dataset and tables are Terraform's (infra/modules/warehouse)."""
        raise ConfigurationError(
            "BigQuery tables are created by Terraform (infra/modules/warehouse), not by the "
            "services, whose accounts may only read and write table data"
        )

    def check_tables(self) -> None:
        """Raise MissingInfrastructure unless the dataset and every table exist; only reads.

        One tables.list call: it needs only the dataset-level roles the services have.
        """
        dataset = f"{self.project}.{self.dataset}"
        try:
            present = {table.table_id for table in self.client.list_tables(dataset)}
        except gexc.NotFound as exc:
            raise MissingInfrastructure(
                f"BigQuery dataset {dataset} not found; it is created by Terraform "
                f"(infra/modules/warehouse): run `terraform apply` in infra/envs/<env>"
            ) from exc
        missing = sorted(set(TABLES) - present)
        if missing:
            raise MissingInfrastructure(
                f"BigQuery tables missing from {dataset}: {', '.join(missing)}; they are "
                f"created by Terraform (infra/modules/warehouse, from core/warehouse/schema.py)"
            )

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Stream rows; the key doubles as insertId so BigQuery drops retried duplicates."""
        if not rows:
            return 0
        spec = TABLES[table]
        payload = [{k: _json_value(v) for k, v in row.items()} for row in rows]
        row_ids = ["|".join(str(row.get(k)) for k in spec.key) for row in rows]
        errors = self.client.insert_rows_json(
            f"{self.project}.{self.dataset}.{table}", payload, row_ids=row_ids
        )
        if errors:
            raise RuntimeError(f"insert into {table} failed: {errors}")
        return len(rows)

    def _job_config(self, params: Mapping[str, Any] | None) -> bigquery.QueryJobConfig:
        return bigquery.QueryJobConfig(
            default_dataset=f"{self.project}.{self.dataset}",
            query_parameters=[query_parameter(k, v) for k, v in (params or {}).items()],
        )

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a parameterised query job and return its rows."""
        job = self.client.query(sql, job_config=self._job_config(params), location=self.location)
        return [dict(row.items()) for row in job.result()]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a DML job."""
        job = self.client.query(sql, job_config=self._job_config(params), location=self.location)
        job.result()
        return int(job.num_dml_affected_rows or 0)

    def ping(self) -> None:
        """Fetch the dataset."""
        self.client.get_dataset(f"{self.project}.{self.dataset}")

    def close(self) -> None:
        """Close the client's HTTP session."""
        self.client.close()  # type: ignore[no-untyped-call]


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
