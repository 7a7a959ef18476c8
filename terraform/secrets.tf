# Secrets are created empty: their values are added out of band with
# `gcloud secrets versions add` (README), never through Terraform or code.

# API key of the storefront, read by IngestBatch and PollCarts.
resource "google_secret_manager_secret" "source_api_key" {
  secret_id = "shoplake-source-api-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Salt of the e-mail hash in dim_users, read by the dbt job.
resource "google_secret_manager_secret" "email_salt" {
  secret_id = "shoplake-email-salt"

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}
