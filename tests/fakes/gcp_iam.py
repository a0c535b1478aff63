"""Fake BigQuery and Cloud Storage clients that refuse what an account's roles do not allow.

Each client answers like the real one (same methods, same exceptions: ``Forbidden`` for a
permission the account lacks, ``NotFound``), backed by memory and an embedded DuckDB file, so
the real adapters and the code above them run unchanged. Every refusal is also recorded, so
a test can list all the permissions a path needed and did not have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from core.warehouse import TABLES
from core.warehouse.duckdb_backend import DuckDbWarehouse
from tests.fakes.gcp_roles import allows, permissions


@dataclass
class Account:
    """One service account's roles: on the project, on the data bucket, on the dataset."""

    name: str
    project: frozenset[str] = frozenset()
    bucket: frozenset[str] = frozenset()
    dataset: frozenset[str] = frozenset()
    # Bucket roles whose IAM condition limits object requests to a name prefix.
    object_prefix: dict[str, str] = field(default_factory=dict)
    denied: list[str] = field(default_factory=list)

    def require(self, permission: str, scope: str, resource: str, obj: str = "") -> None:
        """Raise Forbidden (and remember it) unless a role in scope or on the project has it.

        ``obj``: the object a bucket request is about ("" for a bucket request: listing).
        """
        held = set(permissions(self.project))
        # Resource-level grants do not give project-level permissions such as creating a
        # dataset or a bucket.
        if scope == "dataset" and not permission.endswith("datasets.create"):
            held |= permissions(self.dataset)
        if scope == "bucket" and not permission.endswith("buckets.create"):
            held |= permissions(
                role
                for role in self.bucket
                if not obj or obj.startswith(self.object_prefix.get(role, ""))
            )
        if not allows(held, permission):
            self.denied.append(f"{self.name} needs {permission} on {resource}")
            raise gexc.Forbidden(f"{self.name} does not have {permission} on {resource}")


class Cloud:
    """The state both fakes share: objects of the data bucket and the warehouse tables."""

    def __init__(self, project: str, bucket: str, dataset: str, folder: Path) -> None:
        self.project, self.bucket, self.dataset = project, bucket, dataset
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.generation = 0
        self.tables = DuckDbWarehouse(folder / "bigquery.duckdb")
        self.tables.create_tables()  # Terraform made them
        # Tables holding rows streamed by insertAll: their streaming buffer keeps UPDATE and
        # DELETE out for 30 to 90 minutes, longer than any test (the clock never gets there).
        self.streaming_buffer: set[str] = set()

    def storage_client(self, account: Account) -> FakeStorageClient:
        """A Cloud Storage client that acts as ``account``."""
        return FakeStorageClient(self, account)

    def bigquery_client(self, account: Account) -> FakeBigQueryClient:
        """A BigQuery client that acts as ``account``."""
        return FakeBigQueryClient(self, account)


class FakeStorageClient:
    """The part of ``google.cloud.storage.Client`` that GcsStore uses."""

    def __init__(self, cloud: Cloud, account: Account) -> None:
        self.cloud, self.account = cloud, account

    def bucket(self, name: str) -> FakeBucket:
        """A handle on a bucket (no request, like the real client)."""
        return FakeBucket(self, name)

    def list_blobs(
        self, bucket: FakeBucket, prefix: str = "", max_results: int | None = None
    ) -> list[FakeBlob]:
        """List objects: storage.objects.list."""
        bucket.check("storage.objects.list", "")
        names = sorted(name for name in self.cloud.objects if name.startswith(prefix))
        return [FakeBlob(bucket, name) for name in names[:max_results]]


class FakeBucket:
    """A bucket handle."""

    def __init__(self, client: FakeStorageClient, name: str) -> None:
        self.client, self.name = client, name

    def check(self, permission: str, name: str) -> None:
        """Refuse unless the account may; NotFound for any bucket but the data bucket."""
        self.client.account.require(permission, "bucket", f"gs://{self.name}/{name}", name)
        if self.name != self.client.cloud.bucket:
            raise gexc.NotFound(f"bucket {self.name}")

    def blob(self, name: str) -> FakeBlob:
        """A handle on an object (no request)."""
        return FakeBlob(self, name)

    def get_blob(self, name: str) -> FakeBlob | None:
        """Fetch an object's metadata: storage.objects.get."""
        self.check("storage.objects.get", name)
        return FakeBlob(self, name) if name in self.client.cloud.objects else None

    def exists(self) -> bool:
        """Fetch the bucket's metadata: storage.buckets.get."""
        self.client.account.require("storage.buckets.get", "bucket", f"gs://{self.name}")
        return self.name == self.client.cloud.bucket


class FakeBlob:
    """An object handle."""

    def __init__(self, bucket: FakeBucket, name: str) -> None:
        self.bucket, self.name = bucket, name
        held = bucket.client.cloud.objects.get(name)
        self.generation = held[1] if held else None

    def upload_from_string(
        self, data: bytes, content_type: str | None = None, if_generation_match: int | None = None
    ) -> None:
        """Write: objects.create, plus objects.delete when an object is there already."""
        cloud = self.bucket.client.cloud
        self.bucket.check("storage.objects.create", self.name)
        held = cloud.objects.get(self.name)
        if if_generation_match is not None and (held[1] if held else 0) != if_generation_match:
            raise gexc.PreconditionFailed(self.name)
        if held is not None:
            self.bucket.check("storage.objects.delete", self.name)
        cloud.generation += 1
        cloud.objects[self.name] = (data, cloud.generation)

    def download_as_bytes(self, if_generation_match: int | None = None) -> bytes:
        """Read: objects.get."""
        self.bucket.check("storage.objects.get", self.name)
        held = self.bucket.client.cloud.objects.get(self.name)
        if held is None or if_generation_match not in (None, held[1]):
            raise gexc.NotFound(self.name)
        return held[0]

    def exists(self) -> bool:
        """Fetch metadata: objects.get."""
        self.bucket.check("storage.objects.get", self.name)
        return self.name in self.bucket.client.cloud.objects

    def delete(self) -> None:
        """Delete: objects.delete."""
        self.bucket.check("storage.objects.delete", self.name)
        if self.bucket.client.cloud.objects.pop(self.name, None) is None:
            raise gexc.NotFound(self.name)


@dataclass
class FakeTable:
    """What tables.list returns per table."""

    table_id: str


class FakeJob:
    """A finished query job."""

    def __init__(self, rows: list[dict[str, Any]], affected: int | None) -> None:
        self.rows, self.num_dml_affected_rows = rows, affected

    def result(self) -> list[dict[str, Any]]:
        """The rows (dicts have ``items()`` like BigQuery rows)."""
        return self.rows


_DML = ("INSERT", "UPDATE", "DELETE", "MERGE")
_MUTATED = re.compile(r"\s*(?:UPDATE|DELETE\s+FROM|MERGE(?:\s+INTO)?)\s+(\w+)", re.IGNORECASE)


def _value(parameter: Any) -> Any:
    """A query parameter's value as DuckDB binds it: an array of structs becomes dicts."""
    if isinstance(parameter, bigquery.StructQueryParameter):
        return dict(parameter.struct_values)
    if isinstance(parameter, bigquery.ArrayQueryParameter):
        return [_value(v) if isinstance(v, bigquery.StructQueryParameter) else v
                for v in parameter.values]  # fmt: skip
    return parameter.value


class FakeBigQueryClient:
    """The part of ``google.cloud.bigquery.Client`` that BigQueryWarehouse uses."""

    def __init__(self, cloud: Cloud, account: Account) -> None:
        self.cloud, self.account = cloud, account
        self.project = cloud.project

    def _dataset(self, permission: str, what: str) -> None:
        self.account.require(permission, "dataset", f"{self.project}.{self.cloud.dataset}{what}")

    def create_dataset(self, dataset: Any, exists_ok: bool = False) -> None:
        """bigquery.datasets.create is checked on the project, whatever exists."""
        self.account.require("bigquery.datasets.create", "dataset", f"projects/{self.project}")

    def create_table(self, table: Any, exists_ok: bool = False) -> None:
        """bigquery.tables.create on the dataset."""
        self._dataset("bigquery.tables.create", "")

    def get_dataset(self, dataset: str) -> None:
        """bigquery.datasets.get."""
        self._dataset("bigquery.datasets.get", "")

    def list_tables(self, dataset: str) -> list[FakeTable]:
        """bigquery.tables.list."""
        self._dataset("bigquery.tables.list", "")
        return [FakeTable(name) for name in TABLES]

    def insert_rows_json(
        self, table: str, rows: list[dict[str, Any]], row_ids: list[str] | None = None
    ) -> list[Any]:
        """Streaming insert: bigquery.tables.updateData; the rows enter the streaming buffer."""
        name = table.rsplit(".", 1)[-1]
        self._dataset("bigquery.tables.updateData", f".{name}")
        self.cloud.tables.insert(name, rows)
        self.cloud.streaming_buffer.add(name)
        return []

    def query(self, sql: str, job_config: Any, location: str | None = None) -> FakeJob:
        """A query job: jobs.create on the project, then reads or writes on the dataset."""
        self.account.require("bigquery.jobs.create", "project", f"projects/{self.project}")
        self._dataset("bigquery.tables.getData", "")
        params = {p.name: _value(p) for p in job_config.query_parameters}
        if sql.lstrip().upper().startswith(_DML):
            self._dataset("bigquery.tables.updateData", "")
            target = _MUTATED.match(sql)
            if target and target.group(1) in self.cloud.streaming_buffer:
                # Stricter than BigQuery, which refuses only when buffered rows would change.
                raise gexc.BadRequest(
                    f"UPDATE or DELETE statement over table {target.group(1)} would affect "
                    "rows in the streaming buffer, which is not supported"
                )
            return FakeJob([], self.cloud.tables.execute(sql, params))
        return FakeJob(self.cloud.tables.query(sql, params), None)

    def close(self) -> None:
        """Nothing to release."""
