# The data bucket: the ImageStore of the gcp profile (CREATURE_VIS_STORAGE__BUCKET).
# The code keeps three kinds of objects in it under fixed prefixes, each with its own
# lifecycle: photos (images/, core.photos), model versions and the production pointer
# (models/, core.model.registry) and frozen dataset manifests (datasets/,
# retraining.datasets). Versioning keeps every overwritten or deleted object recoverable.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "location" {
  description = "Bucket location (the Cloud Run region keeps reads local)."
  type        = string
}

variable "name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "prefixes" {
  description = "Object prefixes the code writes: images, models and datasets."
  type = object({
    images   = string
    models   = string
    datasets = string
  })
  default = {
    images   = "images/"
    models   = "models/"
    datasets = "datasets/"
  }
}

variable "images_nearline_after_days" {
  description = "Age after which photos move to Nearline (read again only by retraining)."
  type        = number
  default     = 180
}

variable "noncurrent_retention_days" {
  description = "Days an overwritten or deleted photo or manifest stays recoverable."
  type        = number
  default     = 30
}

variable "model_versions_kept" {
  description = "Overwritten copies kept per model object (the pointer's history)."
  type        = number
  default     = 50
}

variable "force_destroy" {
  description = "Allow destroying a non-empty bucket (dev only)."
  type        = bool
  default     = false
}

resource "google_storage_bucket" "data" {
  #checkov:skip=CKV_GCP_62:Object access is recorded by Cloud Audit Logs (data access logs); GCS usage-log buckets are the legacy mechanism and would need a bucket of their own.
  project                     = var.project_id
  name                        = var.name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = true
  }

  soft_delete_policy {
    retention_duration_seconds = 604800
  }

  lifecycle_rule {
    condition {
      age                   = var.images_nearline_after_days
      matches_prefix        = [var.prefixes.images]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
      matches_prefix             = [var.prefixes.images, var.prefixes.datasets]
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      num_newer_versions = var.model_versions_kept
      matches_prefix     = [var.prefixes.models]
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}

output "name" {
  description = "Bucket name."
  value       = google_storage_bucket.data.name
}

output "url" {
  description = "gs:// URL of the bucket."
  value       = google_storage_bucket.data.url
}
