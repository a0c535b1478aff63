variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "GCP region."
  type        = string
  default     = "europe-west1"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository that deploys."
  type        = string
}

variable "state_bucket" {
  description = "Bucket holding this state."
  type        = string
}

variable "image_tag" {
  description = "Image tag (git commit) to run."
  type        = string
}

variable "redis" {
  description = "Memorystore tier and size."
  type = object({
    tier           = string
    memory_size_gb = number
  })
}

variable "scaling" {
  description = "Min and max instances per service."
  type = map(object({
    min = number
    max = number
  }))
}

variable "deletion_protection" {
  description = "Protect data and services from deletion."
  type        = bool
}

variable "alert_email" {
  description = "Where alerts go."
  type        = string
  default     = ""
}

variable "influx" {
  description = "InfluxDB the exporter writes to."
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

variable "bot_admin_ids" {
  description = "Telegram user ids of the bot's admins."
  type        = list(number)
  default     = []
}
