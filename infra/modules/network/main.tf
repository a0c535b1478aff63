# A private VPC for Memorystore and the Serverless VPC Access connector Cloud Run uses to
# reach it. Only private ranges go through the connector; everything else leaves directly.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Region of the subnet and connector."
  type        = string
}

variable "name" {
  description = "Name prefix (lowercase letters, digits, hyphens)."
  type        = string
}

variable "connector_cidr" {
  description = "A free /28 for the connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "connector_instances" {
  description = "Minimum and maximum connector instances."
  type = object({
    min = number
    max = number
  })
  default = {
    min = 2
    max = 3
  }
}

resource "google_compute_network" "vpc" {
  project                 = var.project_id
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false
}

# Nothing needs to reach into this VPC from outside: Memorystore is peered and the
# connector's own traffic is allowed by the rules Serverless VPC Access manages itself.
resource "google_compute_firewall" "deny_ingress" {
  project   = var.project_id
  name      = "${var.name}-deny-ingress"
  network   = google_compute_network.vpc.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "connector" {
  project                  = var.project_id
  name                     = "${var.name}-connector"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.connector_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_vpc_access_connector" "connector" {
  project       = var.project_id
  name          = substr("${var.name}-conn", 0, 25)
  region        = var.region
  machine_type  = "e2-micro"
  min_instances = var.connector_instances.min
  max_instances = var.connector_instances.max

  subnet {
    name = google_compute_subnetwork.connector.name
  }
}

output "network_id" {
  description = "VPC id (Memorystore's authorized network)."
  value       = google_compute_network.vpc.id
}

output "connector_id" {
  description = "Serverless VPC Access connector id for Cloud Run."
  value       = google_vpc_access_connector.connector.id
}
