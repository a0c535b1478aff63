terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
  # The bucket is given at init time (it is made at bootstrap, see docs/deploy-gcp.md):
  #   terraform init -backend-config="bucket=$STATE_BUCKET"
  backend "gcs" {
    prefix = "creature-vis/dev"
  }
}
