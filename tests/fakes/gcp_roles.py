"""The permissions of the IAM roles this deployment grants, as far as the code needs them."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

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
