# Alerts: function errors, rejected and dead-lettered cart events, held
# listings, failed dbt builds, and a batch path that has gone quiet. Each goes to the channels in var.alert_notification_channels.

# Counters of log lines: a structured log message of one or more functions.
locals {
  log_metrics = {
    rejected_events = {
      description = "Cart events (or unreadable messages) StreamCartEvents quarantined in bq_raw.cart_events_rejected, one log line each."
      functions   = ["stream_cart_events"]
      message     = "rejected event"
    }
    batch_loads = {
      description = "Raw objects LoadRawObject loaded into BigQuery."
      functions   = ["load_raw_object"]
      message     = "loaded object"
    }
    held_listings = {
      description = "Listings the source returned empty or collapsed, held back under rejects/ instead of published (IngestBatch) or of tombstoning carts (PollCarts)."
      functions   = ["ingest_batch", "poll_carts"]
      message     = "listing held back"
    }
    schema_drift = {
      description = "Runs whose records had fields the model does not know, lacked known ones or sent another JSON type (the log line names each field)."
      functions   = ["ingest_batch", "poll_carts"]
      message     = "schema drift"
    }
  }
}

resource "google_logging_metric" "count" {
  for_each = local.log_metrics

  name        = "shoplake/${each.key}"
  description = each.value.description
  filter      = "resource.type=\"cloud_run_revision\" AND (${join(" OR ", [for f in each.value.functions : "resource.labels.service_name=\"${google_cloudfunctions2_function.fn[f].name}\""])}) AND jsonPayload.message=\"${each.value.message}\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }
}

# Alerts on a count over a window: what crossed which threshold, and what the
# person paged does first.
locals {
  count_alerts = {
    function_errors = {
      title     = "Shoplake: function errors"
      condition = "5xx responses from a Shoplake function"
      filter    = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\" AND resource.labels.service_name=one_of(${join(", ", [for f in local.function_specs : "\"${f.name}\""])})"
      threshold = 5
      window    = "300s"
      duration  = "300s"
      group_by  = ["resource.labels.service_name"]
      help      = "A Shoplake function answered 5xx more than 5 times in 5 minutes. Its logs (severity>=ERROR) name the cause; Scheduler, Eventarc and Pub/Sub retry, so data waits rather than being lost."
    }
    rejected_events = {
      title     = "Shoplake: rejected cart events"
      condition = "Cart events quarantined"
      filter    = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["rejected_events"].name}\""
      threshold = 0
      window    = "600s"
      duration  = "0s"
      group_by  = []
      help      = "StreamCartEvents quarantined cart events: query bq_raw.cart_events_rejected for the reason of each."
    }
    dead_lettered_events = {
      title     = "Shoplake: cart events dead-lettered"
      condition = "Messages moved from cart-events-stream to the dead-letter topic"
      filter    = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.cart_events_stream.name}\""
      threshold = 0
      window    = "600s"
      duration  = "0s"
      group_by  = []
      help      = "StreamCartEvents failed a message 5 times and Pub/Sub dead-lettered it: PollCarts has moved on, so the marts miss those carts' versions until the events are replayed. Fix the cause first (StreamCartEvents' logs, severity>=ERROR), then insert the archived events again and rebuild the marts: `go run ./scripts/replay --what events`, then the dbt job with --full-refresh (README, \"Replay the warehouse from the lake\"), since events older than the incremental lookback are not read again otherwise; events already in bq_raw.cart_events come back as duplicates that stg_cart_events drops. The messages wait on cart-events-dead-letter-hold for inspection."
    }
    held_listings = {
      title     = "Shoplake: source listing held back"
      condition = "A listing came back empty or collapsed"
      filter    = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["held_listings"].name}\""
      threshold = 0
      window    = "600s"
      duration  = "0s"
      group_by  = []
      help      = "The storefront answered 200 with an empty listing, or one far smaller than the last (SOURCE_MAX_SHRINK): nothing was published and no cart deleted. The log line's reason names the entity; the held snapshot is under rejects/<entity>/dt=…/held-<run>.jsonl. If the shrink is real, call the function once with {\"allow_shrink\": true}."
    }
    dbt_failures = {
      title     = "Shoplake: dbt job failed"
      condition = "Failed executions of shoplake-dbt"
      filter    = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.dbt.name}\" AND metric.type=\"run.googleapis.com/job/completed_execution_count\" AND metric.labels.result=\"failed\""
      threshold = 0
      window    = "600s"
      duration  = "0s"
      group_by  = []
      help      = "A dbt build failed after its retry: the marts keep their last good state. The execution's logs name the failing model or test (gcloud run jobs executions list --job shoplake-dbt)."
    }
  }
}

resource "google_monitoring_alert_policy" "count" {
  for_each = local.count_alerts

  display_name          = each.value.title
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = each.value.condition
    condition_threshold {
      filter          = each.value.filter
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = each.value.duration
      aggregations {
        alignment_period     = each.value.window
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = each.value.group_by
      }
    }
  }

  documentation {
    content   = each.value.help
    mime_type = "text/markdown"
  }
}

# Metric-absence conditions stop at 23.5 hours, so the 26-hour silence is a
# PromQL condition on the loads counted over the last 26 hours.
resource "google_monitoring_alert_policy" "no_batch_load" {
  display_name          = "Shoplake: no batch load in 26 hours"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "No raw object loaded in 26 hours"
    condition_prometheus_query_language {
      query               = "sum(increase(logging_googleapis_com:user_shoplake_batch_loads{monitored_resource=\"cloud_run_revision\"}[26h])) < 1 or absent(logging_googleapis_com:user_shoplake_batch_loads{monitored_resource=\"cloud_run_revision\"})"
      duration            = "0s"
      evaluation_interval = "3600s"
    }
  }

  documentation {
    content   = "No raw object has been loaded for 26 hours: check the shoplake-ingest-batch scheduler job, then ingest-batch and load-raw-object logs."
    mime_type = "text/markdown"
  }

  depends_on = [google_logging_metric.count["batch_loads"]]
}
