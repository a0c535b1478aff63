"""Fake BigQuery and Cloud Storage clients that refuse what an account's roles do not allow.

Each client answers like the real one (same methods, same exceptions: ``Forbidden`` for a
permission the account lacks, ``NotFound``), backed by memory and an embedded DuckDB file, so
the real adapters and the code above them run unchanged. Every refusal is also recorded, so
a test can list all the permissions a path needed and did not have.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc

from core.warehouse import TABLES
from core.warehouse.duckdb_backend import DuckDbWarehouse

# The permissions of the predefined roles this deployment grants, only those the code's
# calls need. Source: the GCP IAM predefined roles reference
# (cloud.google.com/iam/docs/roles-permissions: storage, bigquery, secretmanager, compute),
# and for objects: cloud.google.com/storage/docs/access-control/iam-permissions ("overwriting
# an existing object also needs storage.objects.delete").
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/storage.objectViewer": frozenset({"storage.objects.get", "storage.objects.list"}),
    "roles/storage.objectCreator": frozenset({"storage.objects.create"}),
    "roles/storage.objectUser": frozenset(
        {
            "storage.objects.create",
            "storage.objects.delete",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.update",
            "storage.objects.restore",
        }
    ),
    "roles/storage.objectAdmin": frozenset({"storage.objects.*"}),
    "roles/storage.admin": frozenset({"storage.*"}),
    "roles/bigquery.dataViewer": frozenset(
        {
            "bigquery.datasets.get",
            "bigquery.tables.get",
            "bigquery.tables.list",
            "bigquery.tables.getData",
        }
    ),
    # dataEditor holds bigquery.datasets.create too, but only granted on the project: a
    # dataset-level grant cannot create datasets (the scope below models that).
    "roles/bigquery.dataEditor": frozenset(
        {
            "bigquery.datasets.get",
            "bigquery.tables.get",
            "bigquery.tables.list",
            "bigquery.tables.getData",
            "bigquery.tables.create",
            "bigquery.tables.update",
            "bigquery.tables.updateData",
            "bigquery.tables.delete",
            "bigquery.datasets.create",
        }
    ),
    "roles/bigquery.jobUser": frozenset({"bigquery.jobs.create"}),
    "roles/bigquery.admin": frozenset({"bigquery.*"}),
    "roles/logging.logWriter": frozenset({"logging.logEntries.create"}),
    "roles/monitoring.metricWriter": frozenset({"monitoring.timeSeries.create"}),
    "roles/monitoring.viewer": frozenset({"monitoring.timeSeries.list"}),
    "roles/aiplatform.user": frozenset({"aiplatform.customJobs.create"}),
    "roles/secretmanager.secretAccessor": frozenset({"secretmanager.versions.access"}),
    "roles/secretmanager.viewer": frozenset(
        {
            "secretmanager.secrets.get",
            "secretmanager.secrets.list",
            "secretmanager.versions.get",
            "secretmanager.versions.list",
        }
    ),
    "roles/secretmanager.admin": frozenset({"secretmanager.*"}),
    "roles/viewer": frozenset({"*.get", "*.list"}),  # reads metadata, never secret payloads
    "roles/compute.networkAdmin": frozenset(
        {
            "compute.networks.*",
            "compute.subnetworks.*",
            "compute.firewalls.get",
            "compute.firewalls.list",
        }
    ),
    "roles/compute.securityAdmin": frozenset({"compute.firewalls.*"}),
    "roles/iam.securityReviewer": frozenset({"*.getIamPolicy"}),
    # The deployer's admin roles, as the permission families they hold.
    "roles/artifactregistry.admin": frozenset({"artifactregistry.*"}),
    "roles/cloudscheduler.admin": frozenset({"cloudscheduler.*"}),
    "roles/iam.serviceAccountAdmin": frozenset({"iam.serviceAccounts.*"}),
    "roles/iam.workloadIdentityPoolAdmin": frozenset(
        {"iam.workloadIdentityPools.*", "iam.workloadIdentityPoolProviders.*"}
    ),
    "roles/logging.configWriter": frozenset({"logging.logMetrics.*", "logging.sinks.*"}),
    "roles/monitoring.editor": frozenset(
        {"monitoring.alertPolicies.*", "monitoring.notificationChannels.*"}
    ),
    "roles/redis.admin": frozenset({"redis.*"}),
    "roles/resourcemanager.projectIamAdmin": frozenset(
        {"resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"}
    ),
    "roles/run.admin": frozenset({"run.*"}),
    "roles/serviceusage.serviceUsageAdmin": frozenset({"serviceusage.services.*"}),
    "roles/vpcaccess.admin": frozenset({"vpcaccess.*"}),
}

# What `terraform apply` needs to create (or change) each resource type this stack manages;
# the permission names are the ones the GCP API of each type checks on create.
MANAGE: dict[str, str] = {
    "google_artifact_registry_repository": "artifactregistry.repositories.create",
    "google_artifact_registry_repository_iam_member": "artifactregistry.repositories.setIamPolicy",
    "google_bigquery_dataset": "bigquery.datasets.create",
    "google_bigquery_dataset_iam_member": "bigquery.datasets.setIamPolicy",
    "google_bigquery_table": "bigquery.tables.create",
    "google_cloud_run_v2_job": "run.jobs.create",
    "google_cloud_run_v2_job_iam_member": "run.jobs.setIamPolicy",
    "google_cloud_run_v2_service": "run.services.create",
    "google_cloud_run_v2_service_iam_member": "run.services.setIamPolicy",
    "google_cloud_scheduler_job": "cloudscheduler.jobs.create",
    "google_compute_firewall": "compute.firewalls.create",
    "google_compute_network": "compute.networks.create",
    "google_compute_subnetwork": "compute.subnetworks.create",
    "google_iam_workload_identity_pool": "iam.workloadIdentityPools.create",
    "google_iam_workload_identity_pool_provider": "iam.workloadIdentityPoolProviders.create",
    "google_logging_metric": "logging.logMetrics.create",
    "google_monitoring_alert_policy": "monitoring.alertPolicies.create",
    "google_monitoring_notification_channel": "monitoring.notificationChannels.create",
    "google_project_iam_member": "resourcemanager.projects.setIamPolicy",
    "google_project_service": "serviceusage.services.enable",
    "google_redis_instance": "redis.instances.create",
    "google_secret_manager_secret": "secretmanager.secrets.create",
    "google_secret_manager_secret_iam_member": "secretmanager.secrets.setIamPolicy",
    "google_secret_manager_secret_version": "secretmanager.versions.add",
    "google_service_account": "iam.serviceAccounts.create",
    "google_service_account_iam_member": "iam.serviceAccounts.setIamPolicy",
    "google_storage_bucket": "storage.buckets.create",
    "google_storage_bucket_iam_member": "storage.buckets.setIamPolicy",
    "google_vpc_access_connector": "vpcaccess.connectors.create",
}


def permissions(roles: Iterable[str]) -> frozenset[str]:
    """Union of the permission patterns of ``roles`` (KeyError for a role not modelled)."""
    return frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles))


def allows(patterns: Iterable[str], permission: str) -> bool:
    """Tell whether one of the patterns (``storage.objects.*``, ``*.get``) covers it."""
    if permission == "secretmanager.versions.access":  # no wildcard but secretmanager.* has it
        return any(p in (permission, "secretmanager.*") for p in patterns)
    return any(fnmatch.fnmatchcase(permission, pattern) for pattern in patterns)


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
        self, table: str, rows: Sequence[Mapping[str, Any]], row_ids: Sequence[str]
    ) -> list[Any]:
        """Streaming insert: bigquery.tables.updateData."""
        name = table.rsplit(".", 1)[-1]
        self._dataset("bigquery.tables.updateData", f".{name}")
        self.cloud.tables.insert(name, rows)
        return []

    def query(self, sql: str, job_config: Any, location: str | None = None) -> FakeJob:
        """A query job: jobs.create on the project, then reads or writes on the dataset."""
        self.account.require("bigquery.jobs.create", "project", f"projects/{self.project}")
        self._dataset("bigquery.tables.getData", "")
        params = {p.name: getattr(p, "values", getattr(p, "value", None))
                  for p in job_config.query_parameters}  # fmt: skip
        if sql.lstrip().upper().startswith(_DML):
            self._dataset("bigquery.tables.updateData", "")
            return FakeJob([], self.cloud.tables.execute(sql, params))
        return FakeJob(self.cloud.tables.query(sql, params), None)

    def close(self) -> None:
        """Nothing to release."""
