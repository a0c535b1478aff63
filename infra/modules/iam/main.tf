# One service account per workload with only the project-level roles it needs; access to
# the bucket, dataset and secrets is granted on those resources, not project-wide.
# GitHub Actions authenticates through Workload Identity Federation (no key files): pull
# requests may impersonate the read-only planner, and only jobs running in the protected
# `production` environment of this repository may impersonate the deployer.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "prefix" {
  description = "Service account id prefix (short: ids are at most 30 characters)."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the GitHub repository allowed to deploy."
  type        = string
}

variable "deploy_environment" {
  description = "GitHub environment whose jobs may impersonate the deployer."
  type        = string
  default     = "production"
}

variable "state_bucket" {
  description = "Bucket of the Terraform state (made at bootstrap)."
  type        = string
}

locals {
  # Project-level roles only; resource-level grants live next to the resources.
  workloads = {
    server   = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/bigquery.jobUser"]
    worker   = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/bigquery.jobUser"]
    beat     = ["roles/logging.logWriter"]
    bot      = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/bigquery.jobUser"]
    exporter = ["roles/logging.logWriter", "roles/bigquery.jobUser", "roles/monitoring.viewer"]
    training = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/bigquery.jobUser"]
    # The training queue's consumer (Cloud Run service `training`): it starts the Vertex AI
    # jobs, which run as `training`. The inference worker cannot reach that code (workers
    # import only core), so it holds no Vertex AI role.
    retrain  = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/bigquery.jobUser", "roles/aiplatform.user"]
    schedule = []
  }
  grants = {
    for pair in flatten([
      for name, roles in local.workloads : [for role in roles : { name = name, role = role }]
    ]) : "${pair.name} ${pair.role}" => pair
  }
  # What `terraform apply` and the Cloud Run rollout need; no owner or editor role.
  deployer_roles = [
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudscheduler.admin",
    "roles/compute.networkAdmin",
    "roles/compute.securityAdmin", # firewall rules: networkAdmin may only read them
    "roles/iam.serviceAccountAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/logging.configWriter",
    "roles/monitoring.editor",
    "roles/redis.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
    "roles/vpcaccess.admin",
  ]
  planner_roles = ["roles/viewer", "roles/iam.securityReviewer", "roles/secretmanager.viewer"]
  # GitHub's OIDC subject claim of each kind of CI job allowed in.
  ci_subjects = {
    planner   = "repo:${var.github_repository}:pull_request"
    publisher = "repo:${var.github_repository}:ref:refs/heads/main"
    deployer  = "repo:${var.github_repository}:environment:${var.deploy_environment}"
  }
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_service_account" "workloads" {
  for_each     = local.workloads
  project      = var.project_id
  account_id   = "${var.prefix}-${each.key}"
  display_name = "creature-vis ${each.key}"
}

resource "google_project_iam_member" "workloads" {
  for_each = local.grants
  project  = var.project_id
  role     = each.value.role
  member   = google_service_account.workloads[each.value.name].member
}

# The training queue's consumer starts Vertex AI custom jobs that run as the training account.
resource "google_service_account_iam_member" "retrain_runs_training" {
  service_account_id = google_service_account.workloads["training"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.workloads["retrain"].member
}

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "${var.prefix}-github"
  display_name              = "GitHub Actions"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:The condition is exact `assertion.sub == "repo:<owner/name>:..."` matches built from local.ci_subjects, which checkov cannot evaluate; tests/unit/test_delivery_terraform.py checks their form.
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-oidc"
  display_name                       = "GitHub OIDC"
  attribute_mapping = {
    "google.subject"        = "assertion.sub"
    "attribute.repository"  = "assertion.repository"
    "attribute.ref"         = "assertion.ref"
    "attribute.environment" = "assertion.environment"
  }
  # Only three kinds of token are accepted, all from this repository: pull requests
  # (plan), pushes to main (publish images) and jobs in the protected environment (apply).
  attribute_condition = join(" || ", [for subject in values(local.ci_subjects) : "assertion.sub == \"${subject}\""])

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "ci" {
  for_each     = local.ci_subjects
  project      = var.project_id
  account_id   = "${var.prefix}-ci-${each.key}"
  display_name = "creature-vis CI ${each.key}"
}

# Each CI account can be impersonated only by tokens with its own subject.
resource "google_service_account_iam_member" "ci_from_github" {
  for_each           = local.ci_subjects
  service_account_id = google_service_account.ci[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/${each.value}"
}

# The deployer sets the workload accounts as Cloud Run identities (actAs), on those
# accounts only rather than project-wide.
resource "google_service_account_iam_member" "deployer_acts_as_workloads" {
  for_each           = google_service_account.workloads
  service_account_id = each.value.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.ci["deployer"].member
}

resource "google_project_iam_member" "deployer" {
  #checkov:skip=CKV_GCP_49:The deployer creates the workload service accounts (serviceAccountAdmin); only jobs in the protected production environment can impersonate it.
  for_each = toset(local.deployer_roles)
  project  = var.project_id
  role     = each.value
  member   = google_service_account.ci["deployer"].member
}

resource "google_project_iam_member" "planner" {
  #checkov:skip=CKV_GCP_117:roles/viewer is read-only; a plan reads every resource type this stack manages, and the planner can change nothing.
  for_each = toset(local.planner_roles)
  project  = var.project_id
  role     = each.value
  member   = google_service_account.ci["planner"].member
}

# Plan takes the state lock (an object write); apply reads and writes state.
resource "google_storage_bucket_iam_member" "state" {
  for_each = { for name in ["planner", "deployer"] : name => google_service_account.ci[name] }
  bucket   = var.state_bucket
  role     = "roles/storage.objectUser"
  member   = each.value.member
}

output "members" {
  description = "Workload name to IAM member (serviceAccount:...)."
  value       = { for name, account in google_service_account.workloads : name => account.member }
}

output "emails" {
  description = "Workload name to service account email."
  value       = { for name, account in google_service_account.workloads : name => account.email }
}

output "workload_identity_provider" {
  description = "Full provider name for google-github-actions/auth."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "ci_service_accounts" {
  description = "Emails of the CI planner, publisher and deployer."
  value       = { for name, account in google_service_account.ci : name => account.email }
}

output "project_number" {
  description = "Project number (Cloud Run URLs contain it)."
  value       = data.google_project.this.number
}
