output "server_url" {
  description = "The web page and API."
  value       = module.server.uri
}

output "bot_webhook_url" {
  description = "The URL the bot registers as its Telegram webhook."
  value       = local.bot_url
}

output "registry" {
  description = "Where CI pushes images (append /<image>:<tag>)."
  value       = module.registry.url
}

output "data_bucket" {
  description = "CREATURE_VIS_STORAGE__BUCKET."
  value       = module.storage.name
}

output "workload_identity_provider" {
  description = "GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = module.iam.workload_identity_provider
}

output "ci_service_accounts" {
  description = "GitHub variables GCP_PLAN_SERVICE_ACCOUNT and GCP_DEPLOY_SERVICE_ACCOUNT."
  value       = module.iam.ci_service_accounts
}

output "secret_ids" {
  description = "Secrets to fill with `gcloud secrets versions add`."
  value       = module.secrets.ids
}
