# Artifact Registry: one Docker repository for the bot, server and worker images.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Region of the repository (same as Cloud Run's)."
  type        = string
}

variable "repository_id" {
  description = "Repository name."
  type        = string
}

variable "keep_recent" {
  description = "Most recent image versions always kept."
  type        = number
  default     = 20
}

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Images hold code only, no user data or secrets; Google-managed encryption is enough and a CMEK key would only add a key to rotate.
  project       = var.project_id
  location      = var.region
  repository_id = var.repository_id
  description   = "creature-vis container images (tagged with the git commit)."
  format        = "DOCKER"

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_recent
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "7776000s" # 90 days; the KEEP rule above wins for recent versions
    }
  }
}

output "url" {
  description = "Registry path images are pushed to, without the image name."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "id" {
  description = "Repository resource id."
  value       = google_artifact_registry_repository.images.id
}

output "name" {
  description = "Repository name."
  value       = google_artifact_registry_repository.images.name
}
