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
    push_endpoint = google_cloudfunctions2_function.stream_cart_events.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.stream_cart_events.service_config[0].uri
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
