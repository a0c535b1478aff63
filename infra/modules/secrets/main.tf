# Secret Manager secrets whose values people add by hand (never in the repository or in
# Terraform state): `gcloud secrets versions add <secret-id> --data-file=-`.

variable "project_id" {
  description = "GCP project id."
  type        = string
}

variable "prefix" {
  description = "Prefix of every secret id."
  type        = string
}

variable "accessors" {
  description = "Secret name (without prefix) to the members that may read it."
  type        = map(list(string))
}

locals {
  names = toset(keys(var.accessors))
  grants = {
    for pair in flatten([
      for name, members in var.accessors : [for member in members : { name = name, member = member }]
    ]) : "${pair.name} ${pair.member}" => pair
  }
}

resource "google_secret_manager_secret" "secrets" {
  #checkov:skip=CKV_GCP_128:Google-managed encryption for secret payloads; no CMEK requirement.
  for_each  = local.names
  project   = var.project_id
  secret_id = "${var.prefix}-${each.value}"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "accessors" {
  for_each  = local.grants
  project   = var.project_id
  secret_id = google_secret_manager_secret.secrets[each.value.name].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}

output "ids" {
  description = "Secret name (without prefix) to secret id."
  value       = { for name, secret in google_secret_manager_secret.secrets : name => secret.secret_id }
  depends_on  = [google_secret_manager_secret_iam_member.accessors]
}
