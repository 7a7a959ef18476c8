# Alerts: function errors, rejected cart events, and a batch path that has
# gone quiet. Each goes to the channels in var.alert_notification_channels.

resource "google_logging_metric" "rejected_events" {
  name        = "shoplake/rejected_cart_events"
  description = "Cart event messages StreamCartEvents quarantined in bq_raw.cart_events_rejected."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.stream_cart_events.name}\" AND jsonPayload.message=\"rejected message\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }
}

resource "google_logging_metric" "batch_loads" {
  name        = "shoplake/batch_loads"
  description = "Raw objects LoadRawObject loaded into BigQuery."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.load_raw_object.name}\" AND jsonPayload.message=\"loaded object\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }
}

resource "google_monitoring_alert_policy" "function_errors" {
  display_name          = "Shoplake: function errors"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "5xx responses from a Shoplake function"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\" AND resource.labels.service_name=one_of(\"ingest-batch\", \"load-raw-object\", \"poll-carts\", \"stream-cart-events\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 5
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  documentation {
    content   = "A Shoplake function answered 5xx more than 5 times in 5 minutes. Its logs (severity>=ERROR) name the cause; Scheduler, Eventarc and Pub/Sub retry, so data waits rather than being lost."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "rejected_events" {
  display_name          = "Shoplake: rejected cart events"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "Cart events quarantined"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.rejected_events.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "StreamCartEvents quarantined cart events: query bq_raw.cart_events_rejected for the reason of each."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "dbt_failures" {
  display_name          = "Shoplake: dbt job failed"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "Failed executions of shoplake-dbt"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.dbt.name}\" AND metric.type=\"run.googleapis.com/job/completed_execution_count\" AND metric.labels.result=\"failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "A dbt build failed after its retry: the marts keep their last good state. The execution's logs name the failing model or test (gcloud run jobs executions list --job shoplake-dbt)."
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

  depends_on = [google_logging_metric.batch_loads]
}
