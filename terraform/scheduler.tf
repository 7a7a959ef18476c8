# The two schedules. Each call carries an OIDC token of the scheduler's
# account, the only account allowed to invoke these functions.

locals {
  # The scheduled functions: when, and how patiently, each is called.
  schedules = {
    # A rerun of a day is idempotent (an unchanged snapshot writes nothing).
    ingest_batch = {
      name        = "shoplake-ingest-batch"
      description = "Daily snapshot of products and users."
      schedule    = var.batch_schedule
      deadline    = "540s"
      retries     = 3
      min_backoff = "60s"
      max_backoff = "600s"
    }
    # The next poll comes within a minute; one retry covers a cold start.
    poll_carts = {
      name        = "shoplake-poll-carts"
      description = "Polls carts and publishes what changed."
      schedule    = var.poll_schedule
      deadline    = "60s"
      retries     = 1
      min_backoff = "5s"
      max_backoff = "20s"
    }
  }
}

resource "google_cloud_scheduler_job" "function" {
  for_each = local.schedules

  name        = each.value.name
  region      = var.region
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = var.schedule_time_zone

  attempt_deadline = each.value.deadline
  retry_config {
    retry_count          = each.value.retries
    min_backoff_duration = each.value.min_backoff
    max_backoff_duration = each.value.max_backoff
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    }
  }

  depends_on = [google_project_service.this, google_service_account_iam_member.deployer_acts_as]
}

# Nightly: the dbt job with every data test, including those that scan whole
# raw histories, which the routine runs after loads leave out. Scheduler calls
# the Cloud Run Admin API with an OAuth token (OIDC is for the functions).
resource "google_cloud_scheduler_job" "dbt_nightly" {
  name        = "shoplake-dbt-nightly"
  region      = var.region
  description = "Runs dbt build with every data test."
  schedule    = var.dbt_nightly_schedule
  time_zone   = var.schedule_time_zone

  attempt_deadline = "60s"
  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/${google_cloud_run_v2_job.dbt.id}:run"
    headers     = { "Content-Type" = "application/json" }
    body = base64encode(jsonencode({
      overrides = { containerOverrides = [{ args = local.dbt_nightly_args }] }
    }))

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.this, google_service_account_iam_member.deployer_acts_as]
}
