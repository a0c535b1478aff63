variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "environment" {
  description = "dev or prod; part of every resource name."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment is dev or prod."
  }
}

variable "region" {
  description = "Region of Cloud Run, Memorystore, the bucket and the registry (CREATURE_VIS_GCP__REGION)."
  type        = string
  default     = "europe-west1"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository that deploys."
  type        = string
}

variable "state_bucket" {
  description = "Bucket of the Terraform state (made at bootstrap)."
  type        = string
}

variable "image_tag" {
  description = "Tag (the git commit) of the images to run; CI passes the commit it built."
  type        = string
}

variable "warehouse_dataset" {
  description = "BigQuery dataset (CREATURE_VIS_WAREHOUSE__DATASET)."
  type        = string
  default     = "creature_vis"
}

variable "warehouse_location" {
  description = "BigQuery location (CREATURE_VIS_WAREHOUSE__LOCATION)."
  type        = string
  default     = "EU"
}

variable "influx" {
  description = "InfluxDB the exporter writes to (url empty = export skipped); the token is a secret."
  type = object({
    url    = string
    org    = string
    bucket = string
  })
  default = {
    url    = ""
    org    = "creature-vis"
    bucket = "creature_vis"
  }
}

variable "redis" {
  description = "Memorystore tier and size."
  type = object({
    tier           = string
    memory_size_gb = number
  })
  default = {
    tier           = "BASIC"
    memory_size_gb = 1
  }
}

variable "scaling" {
  description = "Min and max instances per Cloud Run service."
  type = map(object({
    min = number
    max = number
  }))
  default = {
    server = { min = 0, max = 3 }
    bot    = { min = 0, max = 2 }
    worker = { min = 1, max = 3 }
    beat   = { min = 1, max = 1 } # exactly one scheduler, or periodic tasks run twice
  }
}

variable "exporter" {
  description = "Command and cron schedule of the metrics exporter job."
  type = object({
    command  = list(string)
    schedule = string
  })
  default = {
    command  = ["python", "-m", "monitoring", "export"]
    schedule = "0 * * * *"
  }
}

variable "deletion_protection" {
  description = "Protect tables, services and jobs from deletion (on in prod)."
  type        = bool
  default     = true
}

variable "alert_email" {
  description = "Where alerts are sent (empty = none)."
  type        = string
  default     = ""
}

variable "bot_admin_ids" {
  description = "Telegram user ids allowed /status, /retrain, /rollback and /stats."
  type        = list(number)
  default     = []
}
