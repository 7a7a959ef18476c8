locals {
  prefix = var.name_prefix != "" ? var.name_prefix : var.project_id

  labels = merge({ app = "shoplake", managed-by = "terraform" }, var.labels)

  # The raw tables, declared once in shared/schema and used by Go, dbt and here.
  raw_schema = jsondecode(file("${path.module}/../shared/schema/tables.json"))
  raw_tables = { for t in local.raw_schema.tables : t.name => t }

  transform_job = "projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.dbt.name}"

  # Environment every function reads (shared/config.Platform).
  platform_env = {
    PROJECT_ID     = var.project_id
    RAW_BUCKET     = google_storage_bucket.raw.name
    BQ_RAW_DATASET = google_bigquery_dataset.this["raw"].dataset_id
    BQ_LOCATION    = var.bq_location
    LOG_LEVEL      = var.log_level
  }

  # Environment of the two functions that read the storefront (shared/source
  # and shared/source/connect). The credentials are read from Secret Manager
  # at start-up: always for Shopify and WooCommerce, and for a
  # FakeStore-compatible API when it takes a key.
  source_env = merge(
    {
      SOURCE_BASE_URL = var.source_base_url
      SOURCE_KIND     = var.source_kind
    },
    var.source_kind == "shopify" ? { SHOPIFY_API_VERSION = var.shopify_api_version } : {},
    var.source_kind == "woocommerce" ? { WOOCOMMERCE_QUERY_AUTH = tostring(var.woocommerce_query_auth) } : {},
    var.source_kind == "fakestore" && var.source_api_key_enabled ? { SOURCE_API_KEY_HEADER = var.source_api_key_header } : {},
    var.source_kind != "fakestore" || var.source_api_key_enabled ? {
      SOURCE_API_KEY_SECRET = "${google_secret_manager_secret.source_api_key.id}/versions/latest"
    } : {},
  )
}

data "google_project" "this" {}
