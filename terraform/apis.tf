# The APIs the platform uses. They stay enabled on destroy: other workloads in
# the project may depend on them. Service accounts and project-level grants
# wait for them (depends_on), since nothing else orders them after the IAM and
# Resource Manager APIs on an empty project.
locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project IAM grants, the project data source
    "cloudquotas.googleapis.com",          # the cap on each user's daily query usage
    "cloudscheduler.googleapis.com",
    "datacatalog.googleapis.com", # the policy tag of personal columns
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com", # enabling the others
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "this" {
  for_each = local.services

  service            = each.value
  disable_on_destroy = false
}
