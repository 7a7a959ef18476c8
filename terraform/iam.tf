# One service account per workload, each granted only what it uses, on the
# narrowest resource that carries the permission. Project-level grants are the
# few whose permission exists only at project level (BigQuery jobs, Eventarc
# event receipt, the storage agent's publishing to Eventarc's topics) and log
# and metric writing.

locals {
  functions = {
    ingest_batch       = "IngestBatch: reads the storefront, writes the lake."
    load_raw_object    = "LoadRawObject: loads lake objects into bq_raw, starts dbt."
    poll_carts         = "PollCarts: polls carts or a store's orders, publishes events."
    stream_cart_events = "StreamCartEvents: stores cart events in bq_raw."
  }
}

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "sl-${replace(each.key, "_", "-")}"
  display_name = "Shoplake ${each.key}"
  description  = each.value

  depends_on = [google_project_service.this]
}

resource "google_service_account" "dbt" {
  account_id   = "sl-dbt"
  display_name = "Shoplake dbt job"
  description  = "Runs dbt build: reads bq_raw, writes bq_staging and bq_analytics."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "function_build" {
  account_id   = "sl-function-build"
  display_name = "Shoplake function builds"
  description  = "Builds the functions' source into images (Cloud Build, on deploy); projects no longer give the default compute account the rights to."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "scheduler" {
  account_id   = "sl-scheduler"
  display_name = "Shoplake scheduler"
  description  = "Identity of the Cloud Scheduler jobs: invokes IngestBatch and PollCarts, runs the nightly dbt job."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "pubsub_push" {
  account_id   = "sl-pubsub-push"
  display_name = "Shoplake cart-events push"
  description  = "Identity of the cart-events-stream push subscription's OIDC tokens: invokes StreamCartEvents."

  depends_on = [google_project_service.this]
}

# The deployer may attach each account it creates (iam.serviceAccounts.actAs)
# to the function, job, schedule or subscription that runs as it, and no other
# account: granted per account here rather than project-wide by hand.
locals {
  attached_accounts = merge(
    { for k, sa in google_service_account.function : k => sa.name },
    {
      dbt            = google_service_account.dbt.name
      function_build = google_service_account.function_build.name
      scheduler      = google_service_account.scheduler.name
      pubsub_push    = google_service_account.pubsub_push.name
    },
  )
}

resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = var.deployer == "" ? {} : local.attached_accounts

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = var.deployer
}

# --- Logging and metrics (project level by nature) ---------------------------

locals {
  all_workloads = merge(
    { for k, sa in google_service_account.function : k => sa.email },
    { dbt = google_service_account.dbt.email, function_build = google_service_account.function_build.email },
  )
}

resource "google_project_iam_member" "log_writer" {
  for_each = local.all_workloads

  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${each.value}"

  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "metric_writer" {
  for_each = local.all_workloads

  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${each.value}"

  depends_on = [google_project_service.this]
}

# --- Lake bucket -------------------------------------------------------------

# IngestBatch and PollCarts write objects (snapshots, rejects, poller state)
# and delete their staged tmp/ objects.
resource "google_storage_bucket_iam_member" "raw_writers" {
  for_each = toset(["ingest_batch", "poll_carts"])

  bucket = google_storage_bucket.raw.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.function[each.value].email}"
}

# LoadRawObject reads the objects it loads (BigQuery reads them with its
# credentials).
resource "google_storage_bucket_iam_member" "raw_loader" {
  bucket = google_storage_bucket.raw.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function["load_raw_object"].email}"
}

# --- BigQuery ----------------------------------------------------------------

# Every function writes bq_raw: loads, streamed events, rejects, run records.
resource "google_bigquery_dataset_iam_member" "raw_editors" {
  for_each = local.functions

  dataset_id = google_bigquery_dataset.this["raw"].dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_bigquery_dataset_iam_member" "dbt_reads_raw" {
  dataset_id = google_bigquery_dataset.this["raw"].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.dbt.email}"
}

resource "google_bigquery_dataset_iam_member" "dbt_writes" {
  for_each = {
    staging   = google_bigquery_dataset.this["staging"].dataset_id
    analytics = google_bigquery_dataset.this["analytics"].dataset_id
  }

  dataset_id = each.value
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.dbt.email}"
}

# --- BI readers ----------------------------------------------------------------
# The BI tools and analysts read the marts and nothing else: the raw and
# staging datasets hold what the marts leave out (every delivery of every
# event, rejected records). They run their queries as jobs of the project.
# terraform/bi_test.go keeps these the only grants to var.bi_readers.

resource "google_bigquery_dataset_iam_member" "bi_reads_analytics" {
  for_each = toset(var.bi_readers)

  dataset_id = google_bigquery_dataset.this["analytics"].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_project_iam_member" "bi_runs_queries" {
  for_each = toset(var.bi_readers)

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = each.value

  depends_on = [google_project_service.this]
}

# Function builds read the source archive, push the function images to this
# platform's repository and write build logs.
resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.function_sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"
}

# Cloud Functions copies the uploaded archive into a bucket of its own,
# gcf-v2-sources-<project number>-<region>, and the build reads it from there
# (terraform-provider-google issue 20571; Cloud Run's "build service account"
# docs). That bucket is created by the first deploy, so the grant cannot sit on
# it: it is made on the project and narrowed by a condition to that one bucket.
resource "google_project_iam_member" "build_reads_gcf_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.function_build.email}"

  condition {
    title       = "gcf-v2-sources bucket only"
    description = "The bucket Cloud Functions copies function sources into, in this region."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-${var.region}\")"
  }

  depends_on = [google_project_service.this]
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.function_build.email}"
}

# Running a query or load job is a project-level permission.
resource "google_project_iam_member" "bigquery_job_users" {
  for_each = {
    load_raw_object = google_service_account.function["load_raw_object"].email
    dbt             = google_service_account.dbt.email
  }

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${each.value}"

  depends_on = [google_project_service.this]
}

# --- Pub/Sub -----------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "poller_publishes" {
  topic  = google_pubsub_topic.cart_events.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.function["poll_carts"].email}"
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Dead-lettering: the Pub/Sub service agent forwards from the subscription to
# the dead-letter topic.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.cart_events_dead_letter.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_forwards_dead_letters" {
  subscription = google_pubsub_subscription.cart_events_stream.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The cart-events-archive subscription writes the lake's event archive as the
# Pub/Sub service agent: object creation, and the bucket metadata it reads
# first (Pub/Sub's documented pair for Cloud Storage subscriptions).
resource "google_storage_bucket_iam_member" "agent_archives_events" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.legacyBucketReader"])

  bucket = google_storage_bucket.raw.name
  role   = each.key
  member = local.pubsub_agent
}

# --- Secrets -----------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "source_api_key" {
  for_each = toset(["ingest_batch", "poll_carts"])

  secret_id = google_secret_manager_secret.source_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value].email}"
}

resource "google_secret_manager_secret_iam_member" "pseudonym_key" {
  secret_id = google_secret_manager_secret.pseudonym_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function["ingest_batch"].email}"
}

# --- Invokers (per function, never project-wide) ---------------------------
# A 2nd gen function runs as the Cloud Run service of the same name.

# Who calls each function: the scheduler the scheduled ones, the push
# subscription's account StreamCartEvents, and LoadRawObject's Eventarc
# trigger, which runs as the function's own account.
resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = {
    ingest_batch       = google_service_account.scheduler.email
    poll_carts         = google_service_account.scheduler.email
    stream_cart_events = google_service_account.pubsub_push.email
    load_raw_object    = google_service_account.function["load_raw_object"].email
  }

  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${each.value}"
}

# Pub/Sub signs the push requests' OIDC tokens as sl-pubsub-push (projects
# created before April 2021 lack this grant by default).
resource "google_service_account_iam_member" "agent_signs_push_tokens" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# The Eventarc trigger of LoadRawObject runs as the function's account, and
# Pub/Sub mints the push tokens for it. Projects whose Pub/Sub service agent
# predates 2021-04-08 lack this grant by default (Eventarc docs).
resource "google_service_account_iam_member" "agent_signs_trigger_tokens" {
  service_account_id = google_service_account.function["load_raw_object"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_project_iam_member" "eventarc_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.function["load_raw_object"].email}"

  depends_on = [google_project_service.this]
}

# Cloud Storage triggers: the storage service agent publishes to the topic
# Eventarc creates for the trigger, whose name is not known in advance.
data "google_storage_project_service_account" "gcs_agent" {}

resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs_agent.email_address}"

  depends_on = [google_project_service.this]
}

# --- Transform job -----------------------------------------------------------

# LoadRawObject starts executions of the dbt job, and nothing else.
resource "google_cloud_run_v2_job_iam_member" "loader_runs_dbt" {
  location = var.region
  name     = google_cloud_run_v2_job.dbt.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.function["load_raw_object"].email}"
}

# The dbt job takes and releases its lock object.
resource "google_storage_bucket_iam_member" "dbt_lock" {
  bucket = google_storage_bucket.transform.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.dbt.email}"
}

# The nightly schedule runs the dbt job with other arguments (every test).
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_dbt_nightly" {
  location = var.region
  name     = google_cloud_run_v2_job.dbt.name
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

# The Cloud Run service agent pulls the dbt image.
resource "google_artifact_registry_repository_iam_member" "run_agent_pulls" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:service-${data.google_project.this.number}@serverless-robot-prod.iam.gserviceaccount.com"
}
