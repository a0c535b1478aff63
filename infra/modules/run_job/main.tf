# A Cloud Run job run on a Cloud Scheduler cron: the metrics exporter, which ships the
# warehouse's aggregates to InfluxDB for Grafana.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Cloud Run and Cloud Scheduler region."
  type        = string
}

variable "name" {
  description = "Job name."
  type        = string
}

variable "image" {
  description = "Full image reference."
  type        = string
}

variable "command" {
  description = "Container command."
  type        = list(string)
}

variable "service_account" {
  description = "Email the job runs as."
  type        = string
}

variable "scheduler_service_account" {
  description = "Email Cloud Scheduler uses to start the job."
  type        = string
}

variable "schedule" {
  description = "Cron schedule (UTC)."
  type        = string
}

variable "env" {
  description = "Plain environment variables."
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Environment variable to Secret Manager secret id (latest version)."
  type        = map(string)
  default     = {}
}

variable "connector_id" {
  description = "Serverless VPC Access connector."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the job."
  type        = bool
  default     = true
}

resource "google_cloud_run_v2_job" "job" {
  project             = var.project_id
  name                = var.name
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count = 1

    template {
      service_account = var.service_account
      timeout         = "600s"
      max_retries     = 1

      vpc_access {
        connector = var.connector_id
        egress    = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image   = var.image
        command = var.command

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }

        dynamic "env" {
          for_each = var.env
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = var.secret_env
          content {
            name = env.key
            value_source {
              secret_key_ref {
                secret  = env.value
                version = "latest"
              }
            }
          }
        }
      }
    }
  }
}

# roles/run.invoker includes run.jobs.run: the scheduler may start this job and nothing else.
resource "google_cloud_run_v2_job_iam_member" "scheduler" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.job.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.scheduler_service_account}"
}

resource "google_cloud_scheduler_job" "trigger" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name}-schedule"
  schedule         = var.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "320s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.job.name}:run"

    oauth_token {
      service_account_email = var.scheduler_service_account
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }
}

output "name" {
  description = "Job name."
  value       = google_cloud_run_v2_job.job.name
}
