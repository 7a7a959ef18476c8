# The Cloud Monitoring dashboard "Shoplake pipeline": the story the local run
# report tells (README, "The run report"), from the cloud's own metrics: per
# function executions, errors and latency; cart events streamed, rejected and
# dead-lettered; raw objects loaded per day; dbt job outcomes; freshness (the
# stream's oldest unacknowledged event, and the batch-silence alert); schema
# drift and held listings. Its URL is the dashboard_url output.

locals {
  # The functions' Cloud Run service names, for the filters below.
  dashboard_services = join(", ", [for f in local.function_specs : "\"${f.name}\""])

  # One XY chart: a title, one or more time series filters with how to align
  # and reduce them, and the chart's kind.
  dashboard_charts = [
    {
      title  = "Executions per function (requests/s)"
      kind   = "LINE"
      period = "60s"
      series = [{
        filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND resource.labels.service_name=one_of(${local.dashboard_services})"
        aligner  = "ALIGN_RATE"
        reducer  = "REDUCE_SUM"
        group_by = ["resource.labels.service_name"]
      }]
    },
    {
      title  = "Errors per function (5xx responses/s)"
      kind   = "STACKED_BAR"
      period = "60s"
      series = [{
        filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\" AND resource.labels.service_name=one_of(${local.dashboard_services})"
        aligner  = "ALIGN_RATE"
        reducer  = "REDUCE_SUM"
        group_by = ["resource.labels.service_name"]
      }]
    },
    {
      title  = "Latency per function (p95)"
      kind   = "LINE"
      period = "60s"
      series = [{
        filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_latencies\" AND resource.labels.service_name=one_of(${local.dashboard_services})"
        aligner  = "ALIGN_DELTA"
        reducer  = "REDUCE_PERCENTILE_95"
        group_by = ["resource.labels.service_name"]
      }]
    },
    {
      title  = "Cart events streamed (acknowledged by StreamCartEvents, per minute)"
      kind   = "STACKED_BAR"
      period = "60s"
      series = [{
        filter   = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/ack_message_count\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.cart_events_stream.name}\""
        aligner  = "ALIGN_SUM"
        reducer  = "REDUCE_SUM"
        group_by = []
      }]
    },
    {
      title  = "Cart events rejected and dead-lettered (per minute)"
      kind   = "STACKED_BAR"
      period = "60s"
      series = [
        {
          filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["rejected_events"].name}\""
          aligner  = "ALIGN_SUM"
          reducer  = "REDUCE_SUM"
          group_by = []
        },
        {
          filter   = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.cart_events_stream.name}\""
          aligner  = "ALIGN_SUM"
          reducer  = "REDUCE_SUM"
          group_by = []
        },
      ]
    },
    {
      title  = "Raw objects loaded per day"
      kind   = "STACKED_BAR"
      period = "86400s"
      series = [{
        filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["batch_loads"].name}\""
        aligner  = "ALIGN_SUM"
        reducer  = "REDUCE_SUM"
        group_by = []
      }]
    },
    {
      title  = "dbt job executions by outcome"
      kind   = "STACKED_BAR"
      period = "60s"
      series = [{
        filter   = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.dbt.name}\" AND metric.type=\"run.googleapis.com/job/completed_execution_count\""
        aligner  = "ALIGN_SUM"
        reducer  = "REDUCE_SUM"
        group_by = ["metric.labels.result"]
      }]
    },
    {
      title  = "Freshness of the stream: oldest unacknowledged cart event (s)"
      kind   = "LINE"
      period = "60s"
      series = [{
        filter   = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.cart_events_stream.name}\""
        aligner  = "ALIGN_MAX"
        reducer  = "REDUCE_MAX"
        group_by = []
      }]
    },
    {
      title  = "Schema drift and held listings (runs that saw them)"
      kind   = "STACKED_BAR"
      period = "3600s"
      series = [
        {
          filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["schema_drift"].name}\""
          aligner  = "ALIGN_SUM"
          reducer  = "REDUCE_SUM"
          group_by = []
        },
        {
          filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.count["held_listings"].name}\""
          aligner  = "ALIGN_SUM"
          reducer  = "REDUCE_SUM"
          group_by = []
        },
      ]
    },
  ]
}

resource "google_monitoring_dashboard" "pipeline" {
  dashboard_json = jsonencode({
    displayName = "Shoplake pipeline"
    mosaicLayout = {
      columns = 48
      tiles = concat(
        [{
          xPos   = 0
          yPos   = 0
          width  = 48
          height = 6
          widget = {
            title = "About this dashboard"
            text = {
              format  = "MARKDOWN"
              content = "Shoplake's pipeline in the cloud: the same story as the local run report (`make report`). Raw tables and marts: query `bq_raw.pipeline_runs` for every function run, and `bq_raw.cart_events_rejected` for each rejected event's reason. The batch-silence alert below fires when no raw object was loaded for 26 hours."
            }
          }
        }],
        [for i, c in local.dashboard_charts : {
          xPos   = (i % 2) * 24
          yPos   = 6 + floor(i / 2) * 16
          width  = 24
          height = 16
          widget = {
            title = c.title
            xyChart = {
              dataSets = [for s in c.series : {
                plotType = c.kind
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = s.filter
                    aggregation = {
                      alignmentPeriod    = c.period
                      perSeriesAligner   = s.aligner
                      crossSeriesReducer = s.reducer
                      groupByFields      = s.group_by
                    }
                  }
                }
              }]
            }
          }
        }],
        [{
          xPos   = (length(local.dashboard_charts) % 2) * 24
          yPos   = 6 + floor(length(local.dashboard_charts) / 2) * 16
          width  = 24
          height = 16
          widget = {
            title      = "Freshness of the batch path: no raw object loaded in 26 hours"
            alertChart = { name = google_monitoring_alert_policy.no_batch_load.name }
          }
        }],
      )
    }
  })
}
