# The four Cloud Functions (2nd gen). One source archive holds them all: the
# root package (shoplake.go) registers every entry point and each function
# selects its own by entry_point (FUNCTION_TARGET). None is public: ingress is
# internal where only Google services call, and invokers are granted per
# function in iam.tf.

locals {
  function_build = {
    runtime         = "go125"
    bucket          = google_storage_bucket.function_sources.name
    object          = google_storage_bucket_object.function_source.name
    service_account = google_service_account.function_build.id
    # Function images go to this platform's repository, where the build
    # account may write, rather than to the default gcf-artifacts.
    docker_repository = google_artifact_registry_repository.images.id
  }
}

resource "google_cloudfunctions2_function" "ingest_batch" {
  name        = "ingest-batch"
  location    = var.region
  description = "Daily: pulls products and users from the storefront into raw/<entity>/dt=…/ JSONL."

  build_config {
    runtime           = local.function_build.runtime
    service_account   = local.function_build.service_account
    docker_repository = local.function_build.docker_repository
    entry_point       = "IngestBatch"
    source {
      storage_source {
        bucket = local.function_build.bucket
        object = local.function_build.object
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["ingest_batch"].email
    available_memory                 = "512Mi"
    timeout_seconds                  = 540
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    environment_variables            = merge(local.platform_env, local.source_env)
  }

  # The build account's grants must exist before the build runs.
  depends_on = [
    google_project_service.this,
    google_storage_bucket_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.log_writer,
    google_secret_manager_secret_iam_member.source_api_key,
  ]
}

resource "google_cloudfunctions2_function" "load_raw_object" {
  name        = "load-raw-object"
  location    = var.region
  description = "On each new raw/ object: loads it into bq_raw.<entity> (idempotent per object generation) and starts the dbt job."

  build_config {
    runtime           = local.function_build.runtime
    service_account   = local.function_build.service_account
    docker_repository = local.function_build.docker_repository
    entry_point       = "LoadRawObject"
    source {
      storage_source {
        bucket = local.function_build.bucket
        object = local.function_build.object
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["load_raw_object"].email
    available_memory                 = "256Mi"
    timeout_seconds                  = 540
    max_instance_count               = 5
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    environment_variables = merge(local.platform_env, {
      TRANSFORM_JOB = local.transform_job
    })
  }

  # Retried until the load is recorded: load jobs have a deterministic id per
  # object generation, so a retry reattaches instead of loading twice.
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.function["load_raw_object"].email

    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.raw.name
    }
  }

  depends_on = [
    google_project_service.this,
    google_storage_bucket_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.log_writer,
    google_project_iam_member.gcs_publishes_events,
    google_project_iam_member.eventarc_receiver,
  ]
}

resource "google_cloudfunctions2_function" "poll_carts" {
  name        = "poll-carts"
  location    = var.region
  description = "Every minute: diffs the storefront's carts against the last poll and publishes new, changed and deleted carts to cart-events."

  build_config {
    runtime           = local.function_build.runtime
    service_account   = local.function_build.service_account
    docker_repository = local.function_build.docker_repository
    entry_point       = "PollCarts"
    source {
      storage_source {
        bucket = local.function_build.bucket
        object = local.function_build.object
      }
    }
  }

  service_config {
    service_account_email = google_service_account.function["poll_carts"].email
    available_memory      = "512Mi"
    timeout_seconds       = 55
    # One poller at a time; a racing second one loses the state precondition.
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    environment_variables = merge(local.platform_env, local.source_env, {
      CART_EVENTS_TOPIC = google_pubsub_topic.cart_events.name
      CART_STATE_OBJECT = "state/cart-poller.state"
      CARTS_WINDOW_DAYS = tostring(var.carts_window_days)
    })
  }

  # The build account's grants must exist before the build runs.
  depends_on = [
    google_project_service.this,
    google_storage_bucket_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.log_writer,
    google_secret_manager_secret_iam_member.source_api_key,
  ]
}

resource "google_cloudfunctions2_function" "stream_cart_events" {
  name        = "stream-cart-events"
  location    = var.region
  description = "For each cart event pushed by cart-events-stream: inserts it into bq_raw.cart_events (insertId = event_id); poison messages go to cart_events_rejected."

  build_config {
    runtime           = local.function_build.runtime
    service_account   = local.function_build.service_account
    docker_repository = local.function_build.docker_repository
    entry_point       = "StreamCartEvents"
    source {
      storage_source {
        bucket = local.function_build.bucket
        object = local.function_build.object
      }
    }
  }

  service_config {
    service_account_email = google_service_account.function["stream_cart_events"].email
    available_memory      = "512Mi"
    available_cpu         = "1"
    timeout_seconds       = 60
    max_instance_count    = var.stream_max_instances
    # Concurrent deliveries on one instance share one insert request.
    max_instance_request_concurrency = var.stream_concurrency
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    environment_variables = merge(local.platform_env, {
      INSERT_BATCH_ROWS  = "500"
      INSERT_BATCH_DELAY = "5ms"
    })
  }

  depends_on = [
    google_project_service.this,
    google_storage_bucket_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.log_writer,
  ]
}
