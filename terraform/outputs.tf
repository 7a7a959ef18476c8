output "raw_bucket" {
  description = "The lake bucket (raw/, rejects/, state/)."
  value       = google_storage_bucket.raw.name
}

output "datasets" {
  description = "The BigQuery datasets: raw, staging and analytics."
  value = {
    raw       = google_bigquery_dataset.this["raw"].dataset_id
    staging   = google_bigquery_dataset.this["staging"].dataset_id
    analytics = google_bigquery_dataset.this["analytics"].dataset_id
  }
}

output "function_uris" {
  description = "URIs of the four functions (none is public)."
  value       = { for k, f in google_cloudfunctions2_function.fn : k => f.service_config[0].uri }
}

output "cart_events_topic" {
  description = "Pub/Sub topic of cart events."
  value       = google_pubsub_topic.cart_events.id
}

output "dead_letter_subscription" {
  description = "Subscription that holds dead-lettered cart events for replay."
  value       = google_pubsub_subscription.cart_events_dead_letter.id
}

output "transform_job" {
  description = "Cloud Run job that runs dbt build."
  value       = local.transform_job
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs; `gcloud scheduler jobs run <name> --location <region>` starts one now."
  value       = [for j in google_cloud_scheduler_job.function : j.name]
}

output "artifact_repository" {
  description = "Docker repository for the dbt image."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "dashboard_url" {
  description = "The Cloud Monitoring dashboard \"Shoplake pipeline\" (terraform/dashboard.tf)."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.pipeline.id), 3)}?project=${var.project_id}"
}

output "personal_policy_tag" {
  description = "The policy tag of the marts' personal columns: grant its fine-grained read (roles/datacatalog.categoryFineGrainedReader) through var.personal_data_readers."
  value       = google_data_catalog_policy_tag.personal.name
}
