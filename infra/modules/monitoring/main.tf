# Log-based metrics and alert policies on what Cloud Run and Memorystore report by
# themselves. The model-quality alerts (rolling feedback accuracy, retrain refusals) live in
# Grafana next to the dashboards that show those series.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "name" {
  description = "Prefix of every service and metric (e.g. creature-vis-dev)."
  type        = string
}

variable "alert_email" {
  description = "Where alerts go (empty = alerts without notification)."
  type        = string
  default     = ""
}

variable "error_logs_per_5m" {
  description = "Error log entries per service per 5 minutes that page."
  type        = number
  default     = 10
}

variable "latency_p95_ms" {
  description = "95th-percentile request latency (ms) of the model server that pages."
  type        = number
  default     = 2000
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == "" ? 0 : 1
  project      = var.project_id
  display_name = "${var.name} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

locals {
  channels = [for channel in google_monitoring_notification_channel.email : channel.id]
  services = "resource.labels.service_name=starts_with(\"${var.name}-\")"
}

resource "google_logging_metric" "errors" {
  project = var.project_id
  name    = "${var.name}-error-logs"
  filter  = "resource.type=\"cloud_run_revision\" AND ${local.services} AND severity>=ERROR"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key         = "service"
      value_type  = "STRING"
      description = "Cloud Run service."
    }
  }

  label_extractors = {
    service = "EXTRACT(resource.labels.service_name)"
  }
}

resource "google_logging_metric" "job_failures" {
  project = var.project_id
  name    = "${var.name}-job-failures"
  filter  = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=starts_with(\"${var.name}-\") AND severity>=ERROR"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }
}

resource "google_monitoring_alert_policy" "errors" {
  project               = var.project_id
  display_name          = "${var.name}: error logs"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "error log entries per service"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.errors.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.error_logs_per_5m
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.service"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A creature-vis service logs errors. Open Logs Explorer on the service named in the incident; see docs/deploy-gcp.md#operating."
  }
}

resource "google_monitoring_alert_policy" "server_5xx" {
  project               = var.project_id
  display_name          = "${var.name}: model server 5xx"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "5xx responses"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.name}-server\" AND metric.labels.response_code_class=\"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = 5
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The model server answers 5xx. Check the latest revision's logs; roll back with `gcloud run services update-traffic` or `creature-vis models --rollback` (with the gcp settings)."
  }
}

resource "google_monitoring_alert_policy" "server_latency" {
  project               = var.project_id
  display_name          = "${var.name}: model server latency"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "p95 request latency"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_latencies\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.name}-server\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.latency_p95_ms
      duration        = "600s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_95"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The model server is slow. Look at instance count and CPU in Cloud Run, and at queue depth in Grafana."
  }
}

resource "google_monitoring_alert_policy" "exporter_failed" {
  project               = var.project_id
  display_name          = "${var.name}: scheduled job failed"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "error logs from Cloud Run jobs"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.job_failures.name}\" AND resource.type=\"cloud_run_job\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "3600s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The metrics exporter job failed: Grafana's figures are going stale. See the job's executions in Cloud Run."
  }
}

resource "google_monitoring_alert_policy" "redis_memory" {
  project               = var.project_id
  display_name          = "${var.name}: Redis memory"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "memory usage ratio"
    condition_threshold {
      filter          = "metric.type=\"redis.googleapis.com/stats/memory/usage_ratio\" AND resource.type=\"redis_instance\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0.8
      duration        = "600s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MEAN"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The Celery broker is filling up: workers are not keeping up or are down. Check the worker service."
  }
}

output "alert_policies" {
  description = "Alert policy names."
  value = [
    google_monitoring_alert_policy.errors.name,
    google_monitoring_alert_policy.server_5xx.name,
    google_monitoring_alert_policy.server_latency.name,
    google_monitoring_alert_policy.exporter_failed.name,
    google_monitoring_alert_policy.redis_memory.name,
  ]
}
