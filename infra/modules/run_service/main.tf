# One Cloud Run service running one of the creature-vis images. Every container listens on
# port 8080: the model server (GET /healthz, and /readyz once the model is loaded), the
# bot's webhook server, and for the worker and beat (which serve no HTTP) docker/probe.py's
# `serve` wrapper (GET /healthz while the wrapped process runs).

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
}

variable "name" {
  description = "Service name."
  type        = string
}

variable "image" {
  description = "Full image reference (registry/path:tag)."
  type        = string
}

variable "command" {
  description = "Container command (null = the image's CMD)."
  type        = list(string)
  default     = null
}

variable "service_account" {
  description = "Email of the service's own account."
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

variable "public" {
  description = "Let anyone invoke it (the web page, the Telegram webhook)."
  type        = bool
  default     = false
}

variable "always_on" {
  description = "Keep CPU allocated outside requests (Celery consumers) and min instances warm."
  type        = bool
  default     = false
}

variable "scaling" {
  description = "Minimum and maximum instances."
  type = object({
    min = number
    max = number
  })
}

variable "resources" {
  description = "CPU and memory limits."
  type = object({
    cpu    = string
    memory = string
  })
  default = {
    cpu    = "1"
    memory = "1Gi"
  }
}

variable "concurrency" {
  description = "Requests one instance takes at a time."
  type        = number
  default     = 40
}

variable "connector_id" {
  description = "Serverless VPC Access connector (reaches Memorystore)."
  type        = string
}

variable "ready_path" {
  description = "Path answering 200 once the instance can serve; null = TCP startup probe only (the bot's webhook server has no health route)."
  type        = string
  default     = "/healthz"
}

variable "deletion_protection" {
  description = "Refuse to delete the service."
  type        = bool
  default     = true
}

resource "google_cloud_run_v2_service" "service" {
  project             = var.project_id
  name                = var.name
  location            = var.region
  ingress             = var.public ? "INGRESS_TRAFFIC_ALL" : "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = var.service_account
    max_instance_request_concurrency = var.concurrency
    timeout                          = "300s"

    scaling {
      min_instance_count = var.scaling.min
      max_instance_count = var.scaling.max
    }

    vpc_access {
      connector = var.connector_id
      egress    = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image   = var.image
      command = var.command

      ports {
        container_port = 8080
      }

      resources {
        limits            = var.resources
        cpu_idle          = !var.always_on
        startup_cpu_boost = true
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

      # Startup: the ready path over HTTP, or a TCP connect for servers without one.
      startup_probe {
        period_seconds    = 5
        timeout_seconds   = 4
        failure_threshold = 36 # loading TensorFlow and the model takes up to three minutes

        dynamic "http_get" {
          for_each = var.ready_path == null ? [] : [var.ready_path]
          content {
            path = http_get.value
            port = 8080
          }
        }

        dynamic "tcp_socket" {
          for_each = var.ready_path == null ? [8080] : []
          content {
            port = tcp_socket.value
          }
        }
      }

      # Liveness needs HTTP (Cloud Run has no TCP liveness probe).
      dynamic "liveness_probe" {
        for_each = var.ready_path == null ? [] : ["/healthz"]
        content {
          period_seconds    = 30
          timeout_seconds   = 10
          failure_threshold = 3
          http_get {
            path = liveness_probe.value
            port = 8080
          }
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:Only for the services that must be public: the web page/API and the Telegram webhook (which checks its secret token).
  count    = var.public ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.service.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

output "uri" {
  description = "The service's URL."
  value       = google_cloud_run_v2_service.service.uri
}

output "name" {
  description = "Service name."
  value       = google_cloud_run_v2_service.service.name
}
