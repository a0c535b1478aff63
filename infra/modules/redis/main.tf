# Memorystore Redis: the Celery broker and result backend. AUTH is on; the full REDIS_URL
# (with the AUTH string) is kept in Secret Manager and given to the services as REDIS_URL.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Region of the instance."
  type        = string
}

variable "name" {
  description = "Instance name."
  type        = string
}

variable "network_id" {
  description = "VPC the instance peers with."
  type        = string
}

variable "tier" {
  description = "BASIC (dev) or STANDARD_HA (prod: a replica and automatic failover)."
  type        = string
  default     = "BASIC"
  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.tier)
    error_message = "tier is BASIC or STANDARD_HA."
  }
}

variable "memory_size_gb" {
  description = "Instance memory."
  type        = number
  default     = 1
}

variable "accessors" {
  description = "Members allowed to read the REDIS_URL secret."
  type        = list(string)
  default     = []
}

resource "google_redis_instance" "broker" {
  #checkov:skip=CKV_GCP_97:In-transit TLS needs the server CA in every client (Celery, redis-py); traffic stays inside the private VPC peering and AUTH is on. Revisit with the CA mounted from Secret Manager.
  project            = var.project_id
  name               = var.name
  region             = var.region
  tier               = var.tier
  memory_size_gb     = var.memory_size_gb
  redis_version      = "REDIS_7_2"
  authorized_network = var.network_id
  connect_mode       = "DIRECT_PEERING"
  auth_enabled       = true

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 3
        minutes = 0
      }
    }
  }
}

resource "google_secret_manager_secret" "redis_url" {
  #checkov:skip=CKV_GCP_128:Google-managed encryption for the secret payload; no CMEK requirement.
  project   = var.project_id
  secret_id = "${var.name}-url"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "redis_url" {
  secret      = google_secret_manager_secret.redis_url.id
  secret_data = "redis://:${google_redis_instance.broker.auth_string}@${google_redis_instance.broker.host}:${google_redis_instance.broker.port}/0"
}

resource "google_secret_manager_secret_iam_member" "accessors" {
  for_each  = toset(var.accessors)
  project   = var.project_id
  secret_id = google_secret_manager_secret.redis_url.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

output "url_secret_id" {
  description = "Secret holding REDIS_URL (ready: it has a value and its readers are granted)."
  value       = google_secret_manager_secret.redis_url.secret_id
  depends_on  = [google_secret_manager_secret_version.redis_url, google_secret_manager_secret_iam_member.accessors]
}

output "host" {
  description = "Private address of the instance."
  value       = google_redis_instance.broker.host
}
