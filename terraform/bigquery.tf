# The three layers of the warehouse.
locals {
  datasets = {
    raw = {
      id          = "bq_raw"
      description = "Raw storefront data as loaded: daily product and user snapshots, streamed cart events, their rejects and the pipeline's own bookkeeping."
    }
    staging = {
      id          = "bq_staging"
      description = "dbt staging views (typed, renamed, deduplicated), the current state of each cart and the product price snapshot."
    }
    analytics = {
      id          = "bq_analytics"
      description = "Star schema for BI tools: dim_products, dim_users, dim_date, fact_orders, fact_order_items (built by dbt)."
    }
  }
}

locals {
  # Load jobs read the raw bucket, which is in var.region: a dataset in a
  # region loads only from that region, one in EU only from Europe; US loads
  # from anywhere (BigQuery docs, "Location considerations").
  bq_loads_from_region = upper(var.bq_location) == "US" || (upper(var.bq_location) == "EU" && startswith(var.region, "europe-")) || lower(var.bq_location) == lower(var.region)
}

resource "google_bigquery_dataset" "this" {
  for_each = local.datasets
  # checkov:skip=CKV_GCP_81:Google-managed encryption keys; CMEK is left to an organisation's own key policy (a KMS key, its rotation and agent grants).

  dataset_id  = each.value.id
  location    = var.bq_location
  description = each.value.description
  labels      = merge(local.labels, { layer = each.key })

  lifecycle {
    precondition {
      condition     = local.bq_loads_from_region
      error_message = "bq_location ${var.bq_location} cannot load from a bucket in ${var.region}: use US, EU with a europe-* region, or the region itself."
    }
  }

  depends_on = [google_project_service.this]
}

# The raw tables, from shared/schema: the same files the Go code embeds and
# the dbt sources document. Partitioned by day on their partition field and
# clustered as the file says.
resource "google_bigquery_table" "raw" {
  # checkov:skip=CKV_GCP_80:Google-managed encryption keys; CMEK is left to an organisation's own key policy (a KMS key, its rotation and agent grants).
  for_each = local.raw_tables

  dataset_id          = google_bigquery_dataset.this["raw"].dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${path.module}/../shared/schema/tables/${each.key}.json")
  clustering          = each.value.cluster_by
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = each.value.partition_field
  }
}
