# --- Personal data and the cost of BI queries --------------------------------
# The marts' personal columns (dim_users: the e-mail's pseudonym, city,
# postal code, latitude and longitude) carry the policy tag "personal". With
# fine-grained access control active on its taxonomy, BigQuery lets only the
# tag's fine-grained readers read those columns, whatever role they hold on
# the dataset: var.personal_data_readers, and the dbt account that builds and
# tests them. Everyone else, the BI readers included, reads the other
# columns (SELECT * EXCEPT (...)). dbt applies the tag to the columns each
# time it builds the table (SHOPLAKE_PERSONAL_POLICY_TAG, transform.tf);
# terraform/personaldata_test.go keeps these the tag's only readers.

resource "google_data_catalog_taxonomy" "personal" {
  display_name           = "${local.prefix}-personal-data"
  description            = "Columns of the Shoplake marts that describe a person; readable only by the readers of their policy tag."
  region                 = lower(var.bq_location)
  activated_policy_types = ["FINE_GRAINED_ACCESS_CONTROL"]

  depends_on = [google_project_service.this]
}

resource "google_data_catalog_policy_tag" "personal" {
  taxonomy     = google_data_catalog_taxonomy.personal.id
  display_name = "personal"
  description  = "A person's pseudonymised e-mail address, city, postal code or coordinates (dim_users)."
}

resource "google_data_catalog_policy_tag_iam_member" "personal_readers" {
  for_each = toset(var.personal_data_readers)

  policy_tag = google_data_catalog_policy_tag.personal.name
  role       = "roles/datacatalog.categoryFineGrainedReader"
  member     = each.value
}

# dbt reads what it builds: the nightly tests check the personal columns too.
resource "google_data_catalog_policy_tag_iam_member" "dbt_reads_personal" {
  policy_tag = google_data_catalog_policy_tag.personal.name
  role       = "roles/datacatalog.categoryFineGrainedReader"
  member     = "serviceAccount:${google_service_account.dbt.email}"
}

# Tagging a column takes reading the taxonomy and bigquery.tables.setCategory
# on the table: the one permission, in a role of its own, on bq_analytics
# only (BigQuery Data Owner, which has it, would also let dbt share the
# dataset).
resource "google_data_catalog_taxonomy_iam_member" "dbt_reads_taxonomy" {
  taxonomy = google_data_catalog_taxonomy.personal.name
  role     = "roles/datacatalog.viewer"
  member   = "serviceAccount:${google_service_account.dbt.email}"
}

resource "google_project_iam_custom_role" "policy_tagger" {
  project     = var.project_id
  role_id     = "shoplakePolicyTagger"
  title       = "Shoplake policy tagger"
  description = "Sets the policy tags of table columns (dbt, on bq_analytics)."
  permissions = ["bigquery.tables.setCategory"]

  depends_on = [google_project_service.this]
}

resource "google_bigquery_dataset_iam_member" "dbt_tags_analytics" {
  dataset_id = google_bigquery_dataset.this["analytics"].dataset_id
  role       = google_project_iam_custom_role.policy_tagger.name
  member     = "serviceAccount:${google_service_account.dbt.email}"
}

# A daily cap on the bytes each user's queries may scan, so that one careless
# dashboard cannot run up the bill. A quota rather than maximum_bytes_billed:
# that is a setting of each query, which Looker Studio and Metabase do not
# send, so it cannot be enforced from here; the quota is enforced by BigQuery
# on every query job in the project, whatever tool sends it. It applies to
# the dbt account too, whose routine runs scan a few partitions.
resource "google_cloud_quotas_quota_preference" "query_usage_per_user" {
  count = var.query_mib_per_user_per_day > 0 ? 1 : 0

  parent   = "projects/${var.project_id}"
  name     = "shoplake-query-usage-per-user-per-day"
  service  = "bigquery.googleapis.com"
  quota_id = "QueryUsagePerUserPerDay"
  quota_config {
    preferred_value = tostring(var.query_mib_per_user_per_day)
  }
  # The default is unlimited: any cap lowers it by more than the API lets a
  # preference lower a quota unasked.
  ignore_safety_checks = "QUOTA_DECREASE_PERCENTAGE_TOO_HIGH"
  justification        = "Cap each user's daily BigQuery scan, so that one dashboard cannot run up the bill (Shoplake)."

  depends_on = [google_project_service.this]
}
