# The lake: raw/<entity>/dt=…/ snapshots, rejects/ quarantine, state/ of the
# cart poller and tmp/ staging of snapshot writes.
resource "google_storage_bucket" "raw" {
  name     = "${local.prefix}-raw"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # The poller's state and every snapshot keep their history for recovery;
  # noncurrent versions go after 30 days.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age            = var.raw_nearline_after_days
      matches_prefix = ["raw/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.raw_coldline_after_days
      matches_prefix = ["raw/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.rejects_retention_days
      matches_prefix = ["rejects/"]
    }
    action {
      type = "Delete"
    }
  }

  # Staged snapshot writes are copied to raw/ or abandoned within minutes.
  lifecycle_rule {
    condition {
      age            = 1
      matches_prefix = ["tmp/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  depends_on = [google_project_service.this]
}

# The functions' source archive, uploaded by Terraform from the path Cloud
# Build packages it to.
resource "google_storage_bucket" "function_sources" {
  name     = "${local.prefix}-function-sources"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  depends_on = [google_project_service.this]
}

# The object name carries the archive's hash, so a changed source redeploys
# the functions and an unchanged one does not.
resource "google_storage_bucket_object" "function_source" {
  name   = "functions-source-${filemd5(var.function_source_archive)}.zip"
  bucket = google_storage_bucket.function_sources.name
  source = var.function_source_archive
}

# Cloud Storage writes usage and storage logs as this Google group; the bucket
# must let it create objects, or no log ever arrives.
resource "google_storage_bucket_iam_member" "analytics_writes_access_logs" {
  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# Usage and access logs of the two buckets above.
resource "google_storage_bucket" "access_logs" {
  # checkov:skip=CKV_GCP_62:This is the access-log bucket itself; logging it to itself would loop.
  name     = "${local.prefix}-access-logs"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}
