# Secrets are created empty: their values are added out of band with
# `gcloud secrets versions add` (README), never through Terraform or code.

# Credentials of the store, read by IngestBatch and PollCarts only: the
# Shopify custom app's Admin API access token, the WooCommerce
# "consumer_key:consumer_secret", or a FakeStore-compatible API's key.
resource "google_secret_manager_secret" "source_api_key" {
  secret_id = "shoplake-source-api-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Key of the e-mail pseudonyms (HMAC-SHA-256), read by IngestBatch at cold
# start. Only IngestBatch may read it: the address is replaced before anything
# is written, so no SQL, dbt artifact or BigQuery job ever holds key or address.
# Add a version of at least 16 random bytes before the first ingest; without
# one, IngestBatch fails closed at start-up.
resource "google_secret_manager_secret" "pseudonym_key" {
  secret_id = "shoplake-pseudonym-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}
