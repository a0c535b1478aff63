# The prod environment: the shared stack with prod's sizes (terraform.tfvars).
# project_id, github_repository, state_bucket and image_tag come from CI (TF_VAR_*) or -var.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "creature_vis" {
  source              = "../../modules/stack"
  project_id          = var.project_id
  environment         = "prod"
  region              = var.region
  github_repository   = var.github_repository
  state_bucket        = var.state_bucket
  image_tag           = var.image_tag
  redis               = var.redis
  scaling             = var.scaling
  deletion_protection = var.deletion_protection
  alert_email         = var.alert_email
  bot_admin_ids       = var.bot_admin_ids
  influx              = var.influx
}

output "server_url" {
  description = "The web page and API."
  value       = module.creature_vis.server_url
}

output "bot_webhook_url" {
  description = "The bot's webhook URL."
  value       = module.creature_vis.bot_webhook_url
}

output "registry" {
  description = "Where CI pushes images."
  value       = module.creature_vis.registry
}

output "data_bucket" {
  description = "The data bucket."
  value       = module.creature_vis.data_bucket
}

output "workload_identity_provider" {
  description = "For the GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = module.creature_vis.workload_identity_provider
}

output "ci_service_accounts" {
  description = "For the GitHub variables GCP_PLAN_SERVICE_ACCOUNT and GCP_DEPLOY_SERVICE_ACCOUNT."
  value       = module.creature_vis.ci_service_accounts
}

output "secret_ids" {
  description = "Secrets to fill by hand."
  value       = module.creature_vis.secret_ids
}
