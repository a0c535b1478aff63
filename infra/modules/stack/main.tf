# The whole creature-vis deployment of one environment, composed from the modules beside
# this one. envs/dev and envs/prod call it with their own sizes.

locals {
  name     = "creature-vis-${var.environment}"
  sa       = "cv-${var.environment}"
  registry = module.registry.url
  images = {
    bot    = "${local.registry}/bot:${var.image_tag}"
    server = "${local.registry}/server:${var.image_tag}"
    worker = "${local.registry}/worker:${var.image_tag}"
  }
  # Cloud Run URLs are https://<service>-<project number>.<region>.run.app, so the bot can
  # be told its webhook URL before it exists.
  bot_url = "https://${local.name}-bot-${module.iam.project_number}.${var.region}.run.app"

  common_env = {
    CREATURE_VIS_PROFILE             = "gcp"
    CREATURE_VIS_DATA_DIR            = "/data"
    CREATURE_VIS_STORAGE__BACKEND    = "gcs"
    CREATURE_VIS_STORAGE__BUCKET     = module.storage.name
    CREATURE_VIS_WAREHOUSE__BACKEND  = "bigquery"
    CREATURE_VIS_WAREHOUSE__DATASET  = module.warehouse.dataset_id
    CREATURE_VIS_WAREHOUSE__LOCATION = var.warehouse_location
    CREATURE_VIS_GCP__PROJECT        = var.project_id
    CREATURE_VIS_GCP__REGION         = var.region
  }
  redis_env = { REDIS_URL = module.redis.url_secret_id }
  members   = module.iam.members
  emails    = module.iam.emails
}

module "apis" {
  source     = "../apis"
  project_id = var.project_id
}

module "registry" {
  source        = "../registry"
  project_id    = var.project_id
  region        = var.region
  repository_id = local.name
  depends_on    = [module.apis]
}

module "iam" {
  source            = "../iam"
  project_id        = var.project_id
  prefix            = local.sa
  github_repository = var.github_repository
  state_bucket      = var.state_bucket
  depends_on        = [module.apis]
}

# Pushes to main publish images, and may do nothing else.
resource "google_artifact_registry_repository_iam_member" "publisher" {
  project    = var.project_id
  location   = var.region
  repository = module.registry.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${module.iam.ci_service_accounts["publisher"]}"
}

module "storage" {
  source        = "../storage"
  project_id    = var.project_id
  location      = var.region
  name          = "${var.project_id}-${local.name}-data"
  force_destroy = !var.deletion_protection
  depends_on    = [module.apis]
}

resource "google_storage_bucket_iam_member" "data_admins" {
  for_each = toset(["server", "worker", "retrain", "training"])
  bucket   = module.storage.name
  role     = "roles/storage.objectAdmin"
  member   = local.members[each.value]
}

# The bot stores the photos people send, deletes them again on /forget (with their cached
# features and tombstones) and moves the production pointer on /rollback: an overwrite in
# Cloud Storage needs storage.objects.delete too. objectUser is objectAdmin without the
# object IAM permissions.
resource "google_storage_bucket_iam_member" "bot" {
  bucket = module.storage.name
  role   = "roles/storage.objectUser"
  member = local.members["bot"]
}

# The exporter keeps one object, its watermark under monitoring/, and may touch no other:
# the condition limits object requests to that prefix (listing, a bucket request, stays
# allowed: opening the store lists one object to check the bucket exists).
resource "google_storage_bucket_iam_member" "exporter" {
  bucket = module.storage.name
  role   = "roles/storage.objectUser"
  member = local.members["exporter"]

  condition {
    title       = "exporter-watermark-only"
    description = "Objects under monitoring/ (monitoring.exporter.WATERMARK_KEY)."
    expression  = "resource.type != \"storage.googleapis.com/Object\" || resource.name.startsWith(\"projects/_/buckets/${module.storage.name}/objects/monitoring/\")"
  }
}

# ...and reads the registry (production pointer and its calibration) for the accuracy
# estimated without labels (core.metrics.estimated_accuracy).
resource "google_storage_bucket_iam_member" "exporter_registry" {
  bucket = module.storage.name
  role   = "roles/storage.objectViewer"
  member = local.members["exporter"]

  condition {
    title       = "exporter-reads-registry"
    description = "Objects under models/ (core.model.registry.PREFIX)."
    expression  = "resource.type != \"storage.googleapis.com/Object\" || resource.name.startsWith(\"projects/_/buckets/${module.storage.name}/objects/models/\")"
  }
}

module "warehouse" {
  source              = "../warehouse"
  project_id          = var.project_id
  dataset_id          = var.warehouse_dataset
  location            = var.warehouse_location
  deletion_protection = var.deletion_protection
  editors             = [for name in ["server", "worker", "bot", "retrain", "training"] : local.members[name]]
  viewers             = [local.members["exporter"]]
  depends_on          = [module.apis]
}

module "network" {
  source     = "../network"
  project_id = var.project_id
  region     = var.region
  name       = local.name
  depends_on = [module.apis]
}

module "redis" {
  source         = "../redis"
  project_id     = var.project_id
  region         = var.region
  name           = "${local.name}-redis"
  network_id     = module.network.network_id
  tier           = var.redis.tier
  memory_size_gb = var.redis.memory_size_gb
  # The planner too: `terraform plan` refreshes the secret version this module manages,
  # which reads its payload (the same value is in the state the planner already reads).
  accessors = concat(
    [for name in ["server", "worker", "retrain", "beat", "bot", "exporter"] : local.members[name]],
    ["serviceAccount:${module.iam.ci_service_accounts["planner"]}"],
  )
}

module "secrets" {
  source     = "../secrets"
  project_id = var.project_id
  prefix     = local.name
  accessors = {
    "telegram-bot-token"      = [local.members["bot"]]
    "telegram-webhook-secret" = [local.members["bot"]]
    "unsplash-access-key"     = [local.members["worker"]]
    "pexels-api-key"          = [local.members["worker"]]
    "influx-token"            = [local.members["exporter"]]
    "session-secret"          = [local.members["server"]]
  }
  depends_on = [module.apis]
}
