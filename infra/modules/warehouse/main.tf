# The BigQuery warehouse. Tables, their schemas, partitioning and clustering are generated
# from core/warehouse/schema.py by `creature-vis infra` into schemas/*.json and tables.json;
# a unit test fails when the committed files differ from what the code generates.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "dataset_id" {
  description = "Dataset name (CREATURE_VIS_WAREHOUSE__DATASET)."
  type        = string
}

variable "location" {
  description = "Dataset location (CREATURE_VIS_WAREHOUSE__LOCATION)."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete tables (on in prod)."
  type        = bool
  default     = true
}

variable "editors" {
  description = "Members (serviceAccount:...) that read and write table data."
  type        = list(string)
  default     = []
}

variable "viewers" {
  description = "Members (serviceAccount:...) that only read table data."
  type        = list(string)
  default     = []
}

locals {
  tables = jsondecode(file("${path.module}/tables.json"))
}

resource "google_bigquery_dataset" "warehouse" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption; no regulatory need for a customer-managed key, which would add a key to rotate and a way to lose the data.
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  description                = "creature-vis interactions, feedback, images, model and dataset versions, retrain events, metrics."
  delete_contents_on_destroy = false
}

resource "google_bigquery_table" "tables" {
  #checkov:skip=CKV_GCP_80:Google-managed encryption, as for the dataset (CKV_GCP_81).
  #checkov:skip=CKV_GCP_121:Deletion protection is a variable: on in prod (envs/prod/terraform.tfvars), off in dev so it can be torn down; a unit test pins prod to true.
  for_each            = local.tables
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.warehouse.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${path.module}/schemas/${each.key}.json")
  clustering          = length(each.value.clustering) > 0 ? each.value.clustering : null
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = each.value.partition
  }
}

resource "google_bigquery_dataset_iam_member" "editors" {
  for_each   = toset(var.editors)
  project    = var.project_id
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = each.value
}

resource "google_bigquery_dataset_iam_member" "viewers" {
  for_each   = toset(var.viewers)
  project    = var.project_id
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

output "dataset_id" {
  description = "Dataset name."
  value       = google_bigquery_dataset.warehouse.dataset_id
}

output "tables" {
  description = "Table names."
  value       = sort(keys(google_bigquery_table.tables))
}
