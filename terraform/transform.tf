# The dbt transforms: an image in Artifact Registry (dbt/Dockerfile, pushed by
# Cloud Build) run as a Cloud Run job that LoadRawObject starts after loads.

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Google-managed encryption keys; CMEK is left to an organisation's own key policy (a KMS key, its rotation and agent grants).
  repository_id = "shoplake"
  location      = var.region
  format        = "DOCKER"
  description   = "Container images of Shoplake: the dbt transform job and the functions' builds."

  docker_config {
    immutable_tags = false
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.this]
}

locals {
  dbt_routine_args = ["build", "--target", "prod", "--exclude-resource-type", "unit_test", "--exclude", "tag:full_history"]
  dbt_nightly_args = ["build", "--target", "prod", "--exclude-resource-type", "unit_test"]
}

resource "google_cloud_run_v2_job" "dbt" {
  name     = "shoplake-dbt"
  location = var.region

  deletion_protection = false

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.dbt.email
      timeout         = "3600s"
      max_retries     = 1

      containers {
        image = var.dbt_image
        # The routine run after each load. Unit tests are given DuckDB rows, and
        # the full-history tests run nightly (scheduler.tf).
        args = local.dbt_routine_args

        env {
          name  = "SHOPLAKE_GCP_PROJECT"
          value = var.project_id
        }
        env {
          name  = "SHOPLAKE_BQ_LOCATION"
          value = var.bq_location
        }
        # dbt tags the personal columns with it (personaldata.tf).
        env {
          name  = "SHOPLAKE_PERSONAL_POLICY_TAG"
          value = google_data_catalog_policy_tag.personal.name
        }
        # Executions take turns through a lock object (dbt/runner).
        env {
          name  = "SHOPLAKE_LOCK_BUCKET"
          value = google_storage_bucket.transform.name
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }
      }
    }
  }

  depends_on = [google_project_service.this, google_service_account_iam_member.deployer_acts_as]
}

# The dbt job's own bucket: the lock that keeps two executions from building
# at once. Kept apart from the lake, whose every write triggers LoadRawObject.
resource "google_storage_bucket" "transform" {
  name     = "${local.prefix}-transform"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  depends_on = [google_project_service.this]
}
