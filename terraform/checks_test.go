package terraform

import "testing"

// deployment is deploymentProblems as a check: a configuration it cannot
// read is a problem too.
func deployment(c *tfConfig) []string {
	problems, err := deploymentProblems(c)
	if err != nil {
		return []string{err.Error()}
	}
	return problems
}

// checks are the tests of the configuration, each listing what is wrong.
var checks = map[string]func(*tfConfig) []string{
	"policies":     violations,
	"references":   danglingReferences,
	"archive":      archiveProblems,
	"deployment":   deployment,
	"firstApply":   firstApplyProblems,
	"dashboard":    dashboardProblems,
	"timeouts":     timeoutProblems,
	"biAccess":     biAccessProblems,
	"personalData": personalDataProblems,
}

// TestEveryCheckHolds runs every check on this folder's configuration.
func TestEveryCheckHolds(t *testing.T) {
	c, err := parse(loadDir(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	for name, check := range checks {
		for _, p := range check(c) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

// TestEveryCheckCatchesBreakage breaks one thing at a time in a copy of the
// configuration; the check named must report it, so no check passes by
// reading nothing.
func TestEveryCheckCatchesBreakage(t *testing.T) {
	tests := []struct {
		check string
		breakage
	}{
		{"policies", breakage{"public bucket", "storage.tf", `public_access_prevention    = "enforced"`, `public_access_prevention    = "inherited"`, "public access prevention is not enforced"}},
		{"policies", breakage{"fine-grained ACLs", "storage.tf", `uniform_bucket_level_access = true`, `uniform_bucket_level_access = false`, "uniform bucket-level access"}},
		{"policies", breakage{"invoker for everyone", "iam.tf", `member   = "serviceAccount:${each.value}"`, `member   = "allUsers"`, "allUsers"}},
		{"policies", breakage{"project-wide invoker", "iam.tf", `role    = "roles/eventarc.eventReceiver"`, `role    = "roles/run.invoker"`, `role "roles/run.invoker" granted on the whole project`}},
		{"policies", breakage{"primitive role", "iam.tf", `role    = "roles/bigquery.jobUser"`, `role    = "roles/editor"`, "primitive role"}},
		{"policies", breakage{"public function", "functions.tf", `ingress_settings                 = "ALLOW_INTERNAL_ONLY"`, `ingress_settings                 = "ALLOW_ALL"`, `ingress "ALLOW_ALL"`}},
		{"policies", breakage{"no retry", "functions.tf", `retry_policy          = "RETRY_POLICY_RETRY"`, `retry_policy          = "RETRY_POLICY_DO_NOT_RETRY"`, "event trigger without retry"}},
		{"policies", breakage{"unauthenticated schedule", "scheduler.tf", `oidc_token {`, `unsigned {`, "scheduler call without an OIDC token"}},
		{"policies", breakage{"no dead letters", "pubsub.tf", `dead_letter_topic     = google_pubsub_topic.cart_events_dead_letter.id`, `# none`, "without a dead-letter topic"}},
		{"policies", breakage{"secret in code", "secrets.tf", `# Credentials of the store`, "resource \"google_secret_manager_secret_version\" \"k\" {\n  secret      = google_secret_manager_secret.source_api_key.id\n  secret_data = \"hunter2\"\n}\n# Credentials of the store", "never in Terraform"}},
		{"references", breakage{"misspelt resource", "pubsub.tf", "topic = google_pubsub_topic.cart_events.id", "topic = google_pubsub_topic.cart_event.id", "google_pubsub_topic.cart_event is not declared"}},
		{"references", breakage{"each without for_each", "scheduler.tf", "  attempt_deadline = \"60s\"", "  paused           = each.key == \"x\"\n  attempt_deadline = \"60s\"", "each.… without for_each"}},
		{"references", breakage{"undeclared variable", "storage.tf", "age            = var.rejects_retention_days", "age            = var.reject_days", "var.reject_days is not declared"}},
		{"references", breakage{"undefined local", "functions.tf", "environment_variables            = each.value.env", "environment_variables            = local.function_env", "local.function_env is not declared"}},
		{"archive", breakage{"prefix", "pubsub.tf", `filename_prefix          = "raw/cart_events/dt="`, `filename_prefix          = "raw/cart-events/dt="`, `filename_prefix is "raw/cart-events/dt="`}},
		{"archive", breakage{"datetime", "pubsub.tf", `"YYYY-MM-DD/hh_mm_ssZ"`, `"YYYY-MM-DD/hh_mm"`, "filename_datetime_format"}},
		{"archive", breakage{"avro", "pubsub.tf", "    max_bytes    = 100000000\n", "    max_bytes    = 100000000\n    avro_config {}\n", "not in text format"}},
		{"archive", breakage{"no write grant", "iam.tf", `"roles/storage.objectCreator", "roles/storage.legacyBucketReader"`, `"roles/storage.objectViewer", "roles/storage.legacyBucketReader"`, "lacks roles/storage.objectCreator"}},
		{"deployment", breakage{"missing required variable", "main.tf", "    RAW_BUCKET     = google_storage_bucket.raw.name\n", "", "RAW_BUCKET is required by IngestBatch but not always set"}},
		{"deployment", breakage{"misspelt variable", "functions.tf", "CART_EVENTS_TOPIC   = google_pubsub_topic", "CART_EVENT_TOPIC   = google_pubsub_topic", "CART_EVENT_TOPIC is set but PollCarts never reads it"}},
		{"firstApply", breakage{"build cannot read gcf sources", "iam.tf", `gcf-v2-sources-${data.google_project.this.number}-${var.region}`, `gcf-v2-sources`, "the build account cannot read gcf-v2-sources"}},
		{"firstApply", breakage{"access logs never arrive", "storage.tf", `member = "group:cloud-storage-analytics@google.com"`, `member = "group:storage-admins@example.com"`, "group:cloud-storage-analytics@google.com"}},
		{"firstApply", breakage{"resource manager API", "apis.tf", `"cloudresourcemanager.googleapis.com",`, ``, "does not enable cloudresourcemanager.googleapis.com"}},
		{"firstApply", breakage{"service usage API", "apis.tf", `"serviceusage.googleapis.com",`, ``, "does not enable serviceusage.googleapis.com"}},
		{"firstApply", breakage{"account before its API", "iam.tf", "  description  = each.value\n\n  depends_on = [google_project_service.this]", "  description  = each.value", `google_service_account.function does not wait for the APIs`}},
		{"firstApply", breakage{"old Pub/Sub agent", "iam.tf", `service_account_id = google_service_account.function["load_raw_object"].name`, `service_account_id = google_service_account.scheduler.name`, "cannot mint the trigger's tokens"}},
		{"firstApply", breakage{"deployer cannot attach", "scheduler.tf", "  depends_on = [google_project_service.this, google_service_account_iam_member.deployer_acts_as]", "  depends_on = [google_project_service.this]", "google_cloud_scheduler_job.function attaches a service account before the deployer may act as it"}},
		{"firstApply", breakage{"EU dataset, US bucket", "bigquery.tf", `      condition     = local.bq_loads_from_region`, `      condition     = true`, "accepts a bq_location"}},
		{"dashboard", breakage{"a log metric left off", "dashboard.tf", `metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["schema_drift"].name}\"`, `metric.type=\"logging.googleapis.com/user/shoplake/schema_drift\"`, "log metric schema_drift is not on the dashboard"}},
		{"dashboard", breakage{"a metric that does not exist", "dashboard.tf", `google_logging_metric.count["held_listings"]`, `google_logging_metric.count["held_listing"]`, `log metric "held_listing", which monitoring.tf does not define`}},
		{"dashboard", breakage{"no dead letters", "dashboard.tf", "subscription/dead_letter_message_count", "subscription/num_undelivered_messages", "dead-lettered events"}},
		{"timeouts", breakage{"run timeout past the function's", "functions.tf", `RUN_TIMEOUT         = "45s"`, `RUN_TIMEOUT         = "55s"`, "RUN_TIMEOUT 55s leaves less than 5.5s of the 55s function timeout"}},
		{"timeouts", breakage{"function timeout lowered", "functions.tf", `timeout       = 540`, `timeout       = 300`, "RUN_TIMEOUT 8m0s leaves less than 30s of the 5m0s function timeout"}},
		{"timeouts", breakage{"retry budget past the run", "functions.tf", `SOURCE_RETRY_BUDGET  = "100s"`, `SOURCE_RETRY_BUDGET  = "3m"`, "4 fetches of SOURCE_RETRY_BUDGET 3m0s (12m0s in all) do not fit in RUN_TIMEOUT 8m0s"}},
		{"biAccess", breakage{"BI readers on the raw dataset", "iam.tf", `  dataset_id = google_bigquery_dataset.this["analytics"].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value`, `  dataset_id = google_bigquery_dataset.this["raw"].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value`, `grants the BI readers [roles/bigquery.dataViewer] on google_bigquery_dataset.this["raw"].dataset_id`}},
		{"biAccess", breakage{"BI readers may write the marts", "iam.tf", `  role       = "roles/bigquery.dataViewer"
  member     = each.value`, `  role       = "roles/bigquery.dataEditor"
  member     = each.value`, `grants the BI readers [roles/bigquery.dataEditor]`}},
		{"biAccess", breakage{"BI readers read the lake", "iam.tf", `# Function builds read the source archive,`, `resource "google_storage_bucket_iam_member" "bi_lake" {
  for_each = toset(var.bi_readers)
  bucket   = google_storage_bucket.raw.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

# Function builds read the source archive,`, `grants the BI readers [roles/storage.objectViewer] on google_storage_bucket.raw.name`}},
		{"personalData", breakage{"tag not enforced", "personaldata.tf", `activated_policy_types = ["FINE_GRAINED_ACCESS_CONTROL"]`, `activated_policy_types = []`, "enforces fine-grained access control"}},
		{"personalData", breakage{"BI readers read personal columns", "personaldata.tf", `  for_each = toset(var.personal_data_readers)

  policy_tag`, `  for_each = toset(var.bi_readers)

  policy_tag`, "grants roles/datacatalog.categoryFineGrainedReader to each.value toset(var.bi_readers)"}},
		{"personalData", breakage{"personal readers read the marts", "iam.tf", `  for_each = toset(var.bi_readers)

  dataset_id`, `  for_each = toset(concat(var.bi_readers, var.personal_data_readers))

  dataset_id`, "grants the personal data readers [roles/bigquery.dataViewer]"}},
		{"personalData", breakage{"dbt not told the tag", "transform.tf", `          value = google_data_catalog_policy_tag.personal.name`, `          value = ""`, "SHOPLAKE_PERSONAL_POLICY_TAG"}},
		{"personalData", breakage{"no query cap", "personaldata.tf", `  quota_id = "QueryUsagePerUserPerDay"`, `  quota_id = "QueryUsagePerDay"`, "caps each user's daily query usage"}},
		{"deployment", breakage{"unknown entry point", "functions.tf", `entry_point = "PollCarts"`, `entry_point = "PollCart"`, `entry point "PollCart" is not a Shoplake function`}},
	}
	for _, tt := range tests {
		t.Run(tt.check+"/"+tt.name, func(t *testing.T) {
			reported(t, checks[tt.check](edited(t, tt.file, tt.old, tt.new)), tt.want)
		})
	}
}
