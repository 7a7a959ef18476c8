# The four Cloud Functions (2nd gen). One source archive holds them all: the
# root package (shoplake.go) registers every entry point and each function
# selects its own by entry_point (FUNCTION_TARGET). None is public: ingress is
# internal where only Google services call, and invokers are granted per
# function in iam.tf.

locals {
  # What differs between the functions; everything else they share. The keys
  # are those of google_service_account.function (iam.tf).
  function_specs = {
    ingest_batch = {
      name          = "ingest-batch"
      description   = "Daily: pulls the store's products and customers (FakeStore: users; other stores: also orders) into raw/<entity>/dt=…/ JSONL."
      entry_point   = "IngestBatch"
      memory        = "512Mi"
      cpu           = null
      timeout       = 540
      max_instances = 1
      concurrency   = 1
      # The call stops itself at RUN_TIMEOUT, 60 s before the platform
      # would, and each of its fetches (FakeStore: two; Shopify: the scope
      # check and three entities) ends within SOURCE_RETRY_BUDGET
      # (terraform/timeouts_test.go keeps them so).
      env = merge(local.platform_env, local.source_env, {
        PSEUDONYM_KEY_SECRET = "${google_secret_manager_secret.pseudonym_key.id}/versions/latest"
        RUN_TIMEOUT          = "480s"
        SOURCE_RETRY_BUDGET  = "100s"
      })
      # Raw objects trigger LoadRawObject (see event_trigger below).
      storage_trigger = false
    }
    load_raw_object = {
      name            = "load-raw-object"
      description     = "On each new raw/ object: loads it into bq_raw.<entity> (idempotent per object generation) and starts the dbt job."
      entry_point     = "LoadRawObject"
      memory          = "256Mi"
      cpu             = null
      timeout         = 540
      max_instances   = 5
      concurrency     = 1
      env             = merge(local.platform_env, { TRANSFORM_JOB = local.transform_job })
      storage_trigger = true
    }
    poll_carts = {
      name        = "poll-carts"
      description = "Every minute: publishes to cart-events the storefront's new, changed and deleted carts, or a store's orders updated since its cursor."
      entry_point = "PollCarts"
      memory      = "512Mi"
      cpu         = null
      timeout     = 55
      # One poller at a time; a racing second one loses the state precondition.
      max_instances = 1
      concurrency   = 1
      # The poll stops itself at RUN_TIMEOUT, 10 s before the platform
      # would; its cart listing ends within SOURCE_RETRY_BUDGET.
      env = merge(local.platform_env, local.source_env, {
        CART_EVENTS_TOPIC   = google_pubsub_topic.cart_events.name
        CART_STATE_OBJECT   = "state/cart-poller.state"
        CARTS_WINDOW_DAYS   = tostring(var.carts_window_days)
        RUN_TIMEOUT         = "45s"
        SOURCE_RETRY_BUDGET = "30s"
      })
      storage_trigger = false
    }
    stream_cart_events = {
      name          = "stream-cart-events"
      description   = "For each batch of cart events pushed by cart-events-stream: appends the valid events to bq_raw.cart_events (Storage Write API, default stream); each invalid event goes to cart_events_rejected."
      entry_point   = "StreamCartEvents"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      max_instances = var.stream_max_instances
      # Each delivery is a batch of up to 1,000 events, appended in one request.
      concurrency     = var.stream_concurrency
      env             = local.platform_env
      storage_trigger = false
    }
  }
}

resource "google_cloudfunctions2_function" "fn" {
  for_each = local.function_specs

  name        = each.value.name
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = "go126"
    service_account = google_service_account.function_build.id
    # Function images go to this platform's repository, where the build
    # account may write, rather than to the default gcf-artifacts.
    docker_repository = google_artifact_registry_repository.images.id
    entry_point       = each.value.entry_point
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    environment_variables            = each.value.env
  }

  # LoadRawObject: retried until the load is recorded. Load jobs have a
  # deterministic id per object generation, so a retry reattaches instead of
  # loading twice.
  dynamic "event_trigger" {
    for_each = each.value.storage_trigger ? [google_storage_bucket.raw.name] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.storage.object.v1.finalized"
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.function[each.key].email

      event_filters {
        attribute = "bucket"
        value     = event_trigger.value
      }
    }
  }

  # The build account's grants, the secret reads and the trigger's agents
  # must exist before the build and the first invocation.
  depends_on = [
    google_project_service.this,
    google_storage_bucket_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.log_writer,
    google_secret_manager_secret_iam_member.source_api_key,
    google_secret_manager_secret_iam_member.pseudonym_key,
    google_project_iam_member.build_reads_gcf_sources,
    google_service_account_iam_member.agent_signs_trigger_tokens,
    google_service_account_iam_member.deployer_acts_as,
    google_project_iam_member.gcs_publishes_events,
    google_project_iam_member.eventarc_receiver,
  ]
}
