# Cart events published by PollCarts. Messages are kept for replay.
resource "google_pubsub_topic" "cart_events" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption keys; CMEK is left to an organisation's own key policy (a KMS key, its rotation and agent grants).
  name                       = "cart-events"
  message_retention_duration = var.message_retention

  depends_on = [google_project_service.this]
}

# Messages StreamCartEvents failed to take after the subscription's last
# attempt; kept on the subscription below until replayed.
resource "google_pubsub_topic" "cart_events_dead_letter" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption keys; CMEK is left to an organisation's own key policy (a KMS key, its rotation and agent grants).
  name                       = "cart-events-dead-letter"
  message_retention_duration = var.message_retention

  depends_on = [google_project_service.this]
}

# StreamCartEvents' feed: a push subscription rather than an Eventarc trigger,
# because only a subscription Terraform owns can carry a dead-letter policy.
# The function accepts the plain push body (shared/cehttp). Poison messages
# never reach the dead-letter topic: the function quarantines them in
# bq_raw.cart_events_rejected and acknowledges them; what arrives there are
# messages that failed for five attempts (a warehouse outage).
resource "google_pubsub_subscription" "cart_events_stream" {
  name  = "cart-events-stream"
  topic = google_pubsub_topic.cart_events.id

  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention

  push_config {
    push_endpoint = google_cloudfunctions2_function.fn["stream_cart_events"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.fn["stream_cart_events"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.cart_events_dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  # Terraform attaches sl-pubsub-push to the subscription as the deployer.
  depends_on = [google_service_account_iam_member.deployer_acts_as]
}

# Holds dead-lettered messages for inspection and replay.
resource "google_pubsub_subscription" "cart_events_dead_letter" {
  name  = "cart-events-dead-letter-hold"
  topic = google_pubsub_topic.cart_events_dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention

  expiration_policy {
    ttl = ""
  }
}

# The lake's record of the stream: every message on cart-events, written to
# the raw bucket under raw/cart_events/dt=YYYY-MM-DD/hh_mm_ssZ_<id>.jsonl, one
# message body a line (shared/lake names these objects; the local runner
# writes the same). It is what scripts/replay reads to rebuild
# bq_raw.cart_events. LoadRawObject, triggered by every object in the
# bucket, ignores this prefix.
resource "google_pubsub_subscription" "cart_events_archive" {
  name  = "cart-events-archive"
  topic = google_pubsub_topic.cart_events.id

  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention

  cloud_storage_config {
    bucket                   = google_storage_bucket.raw.name
    filename_prefix          = "raw/cart_events/dt="
    filename_datetime_format = "YYYY-MM-DD/hh_mm_ssZ"
    filename_suffix          = ".jsonl"
    # A new object every 5 minutes or 100 MB, whichever comes first.
    max_duration = "300s"
    max_bytes    = 100000000
    # No avro_config: each message body is written as text, one a line (the
    # provider has no text_config block; text is the format without avro_config).
  }

  expiration_policy {
    ttl = ""
  }

  # The subscription checks on creation that it may write to the bucket.
  depends_on = [google_storage_bucket_iam_member.agent_archives_events]
}
