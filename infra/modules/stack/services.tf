# The Cloud Run services and the exporter job. Every one uses an image built from this
# commit (var.image_tag), so one `terraform apply` rolls out a consistent set of revisions.

locals {
  # The server's model runs on as many threads as the service has CPUs (bench/server.py
  # measures it so); the default, one thread, is for a laptop that runs everything.
  server_cpus = 2
}

module "server" {
  source              = "../run_service"
  project_id          = var.project_id
  region              = var.region
  name                = "${local.name}-server"
  image               = local.images.server
  ready_path          = "/readyz"
  service_account     = local.emails["server"]
  public              = true
  scaling             = var.scaling["server"]
  resources           = { cpu = tostring(local.server_cpus), memory = "4Gi" }
  connector_id        = module.network.connector_id
  deletion_protection = var.deletion_protection
  env = merge(local.common_env, {
    CREATURE_VIS_SERVER__HOST   = "0.0.0.0"
    CREATURE_VIS_SERVER__PORT   = "8080"
    CREATURE_VIS_MODEL__THREADS = tostring(local.server_cpus)
  })
  secret_env = merge(local.redis_env, {
    CREATURE_VIS_SERVER__SESSION_SECRET = module.secrets.ids["session-secret"]
  })
}

module "bot" {
  source              = "../run_service"
  project_id          = var.project_id
  region              = var.region
  name                = "${local.name}-bot"
  image               = local.images.bot
  ready_path          = null
  service_account     = local.emails["bot"]
  public              = true # Telegram posts updates here; the secret token authenticates them
  scaling             = var.scaling["bot"]
  always_on           = true # PTB answers the webhook before handling the update: keep the CPU
  connector_id        = module.network.connector_id
  deletion_protection = var.deletion_protection
  env = merge(local.common_env, {
    CREATURE_VIS_BOT__WEBHOOK_URL = local.bot_url
    CREATURE_VIS_BOT__ADMIN_IDS   = jsonencode(var.bot_admin_ids)
  })
  secret_env = merge(local.redis_env, {
    TELEGRAM_BOT_TOKEN               = module.secrets.ids["telegram-bot-token"]
    CREATURE_VIS_BOT__WEBHOOK_SECRET = module.secrets.ids["telegram-webhook-secret"]
  })
}

module "worker" {
  source              = "../run_service"
  project_id          = var.project_id
  region              = var.region
  name                = "${local.name}-worker"
  image               = local.images.worker
  command             = ["python", "/app/probe.py", "serve", "--port", "8080", "--", "python", "-m", "workers", "worker"]
  service_account     = local.emails["worker"]
  always_on           = true
  scaling             = var.scaling["worker"]
  resources           = { cpu = "2", memory = "4Gi" }
  connector_id        = module.network.connector_id
  deletion_protection = var.deletion_protection
  env                 = local.common_env
  secret_env = merge(local.redis_env, {
    CREATURE_VIS_PHOTOS__UNSPLASH_ACCESS_KEY = module.secrets.ids["unsplash-access-key"]
    CREATURE_VIS_PHOTOS__PEXELS_API_KEY      = module.secrets.ids["pexels-api-key"]
  })
}

# The training queue's consumer: the retrain checks beat and /retrain send, and the rounds
# they fire, one at a time. It curates and evaluates here and trains on Vertex AI, submitting
# custom jobs that run as the training account. Its own account, `retrain`, holds what that
# takes: the bucket, the dataset, REDIS_URL, Vertex AI user and acting as the training
# account; not the photo API keys (the worker acquires photos).
module "training" {
  source              = "../run_service"
  project_id          = var.project_id
  region              = var.region
  name                = "${local.name}-training"
  image               = local.images.worker
  command             = ["python", "/app/probe.py", "serve", "--port", "8080", "--", "python", "-m", "retraining", "worker"]
  service_account     = local.emails["retrain"]
  always_on           = true
  scaling             = { min = 1, max = 1 } # rounds run one at a time (a lease in the bucket)
  resources           = { cpu = "2", memory = "4Gi" }
  connector_id        = module.network.connector_id
  deletion_protection = var.deletion_protection
  env = merge(local.common_env, {
    CREATURE_VIS_TRAINING__BACKEND             = "vertex"
    CREATURE_VIS_GCP__VERTEX_IMAGE             = local.images.worker
    CREATURE_VIS_GCP__TRAINING_SERVICE_ACCOUNT = local.emails["training"]
  })
  secret_env = local.redis_env
}

module "beat" {
  source              = "../run_service"
  project_id          = var.project_id
  region              = var.region
  name                = "${local.name}-beat"
  image               = local.images.worker
  command             = ["python", "/app/probe.py", "serve", "--port", "8080", "--", "python", "-m", "workers", "beat"]
  service_account     = local.emails["beat"]
  always_on           = true
  scaling             = var.scaling["beat"]
  resources           = { cpu = "1", memory = "512Mi" }
  connector_id        = module.network.connector_id
  deletion_protection = var.deletion_protection
  env                 = local.common_env
  secret_env          = local.redis_env
}

module "exporter" {
  source                    = "../run_job"
  project_id                = var.project_id
  region                    = var.region
  name                      = "${local.name}-exporter"
  image                     = local.images.worker
  command                   = var.exporter.command
  schedule                  = var.exporter.schedule
  service_account           = local.emails["exporter"]
  scheduler_service_account = local.emails["schedule"]
  connector_id              = module.network.connector_id
  deletion_protection       = var.deletion_protection
  # No URL: the variable stays unset, which the exporter reports as "export skipped".
  env = merge(local.common_env, var.influx.url == "" ? {} : {
    CREATURE_VIS_MONITORING__INFLUX_URL    = var.influx.url
    CREATURE_VIS_MONITORING__INFLUX_ORG    = var.influx.org
    CREATURE_VIS_MONITORING__INFLUX_BUCKET = var.influx.bucket
  })
  # Redis too: each run samples the queue depths and live workers before it exports.
  secret_env = merge(local.redis_env, {
    CREATURE_VIS_MONITORING__INFLUX_TOKEN = module.secrets.ids["influx-token"]
  })
}

module "monitoring" {
  source      = "../monitoring"
  project_id  = var.project_id
  name        = local.name
  alert_email = var.alert_email
  depends_on  = [module.apis]
}
