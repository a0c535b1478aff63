"""Warehouse on BigQuery: day-partitioned tables built from the shared schema.

Rows are written by DML ``INSERT`` statements, never streamed. Streamed rows (insertAll)
sit in a streaming buffer that ``DELETE`` cannot touch for 30 to 90 minutes, so /forget and
the flusher's deletion of forgotten rows would fail. Rows a DML statement wrote are
committed table data at once. Load jobs would avoid the buffer too, but a table takes 1,500
of them a day (failures count) and the flusher writes every half second while photos arrive.
The first 1,500 INSERT statements on a table in a day run at once and later ones 10 at a
time per table, which covers this service (one flusher per worker process, one statement per
answer); docs/deploy-gcp.md states the guarantee.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import lru_cache
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
# Rows per INSERT statement: keeps the request far under BigQuery's 10 MB limit.
INSERT_CHUNK = 500
# How far before a batch's oldest row the key check reads: a row retried within a day of its
# first write (the interaction log keeps rows that long) is skipped, and the check reads the
# key column of two or three day partitions instead of the whole table.
KEY_LOOKBACK = dt.timedelta(days=1)


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


@lru_cache(maxsize=32)
def insert_sql(table: Table) -> str:
    """The INSERT of the rows in ``@rows`` whose key the table does not hold since ``@since``."""
    columns = ", ".join(c.name for c in table.columns)
    values = ", ".join(f"r.{c.name}" for c in table.columns)
    same_key = " AND ".join(f"t.{k} = r.{k}" for k in table.key)
    return (
        f"INSERT INTO {table.name} ({columns}) SELECT {values} FROM UNNEST(@rows) AS r "  # noqa: S608  (names from the schema)
        f"WHERE NOT EXISTS (SELECT 1 FROM {table.name} AS t "
        f"WHERE {same_key} AND t.{table.partition} >= @since)"
    )


def rows_parameter(table: Table, rows: Sequence[Mapping[str, Any]]) -> bigquery.ArrayQueryParameter:
    """``rows`` as the ``@rows`` array of structs, typed by the schema (NULLs keep a type)."""
    structs = [
        bigquery.StructQueryParameter(
            None,
            *(
                bigquery.ScalarQueryParameter(c.name, c.type, row.get(c.name))
                for c in table.columns
            ),
        )
        for row in rows
    ]
    return bigquery.ArrayQueryParameter("rows", "STRUCT", structs)


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
        """Insert rows by DML, skipping keys the table holds; return rows written.

        Rows repeating a key within ``rows`` are written once (the first). The rows are
        deletable as soon as this returns (no streaming buffer).
        """
        spec = TABLES[table]
        seen: set[tuple[Any, ...]] = set()
        unique: list[Mapping[str, Any]] = []
        for row in rows:
            key = tuple(row.get(k) for k in spec.key)
            if key not in seen:
                seen.add(key)
                unique.append(row)
        written = 0
        for start in range(0, len(unique), INSERT_CHUNK):
            chunk = unique[start : start + INSERT_CHUNK]
            since = min(_timestamp(row[spec.partition]) for row in chunk) - KEY_LOOKBACK
            config = self._job_config({"since": since})
            config.query_parameters = [rows_parameter(spec, chunk), *config.query_parameters]
            job = self.client.query(insert_sql(spec), job_config=config, location=self.location)
            job.result()
            written += int(job.num_dml_affected_rows or 0)
        return written

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


def _timestamp(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
