variable "project_id" {
  type        = string
  description = "Google Cloud project that hosts the whole platform."
}

variable "region" {
  type        = string
  description = "Region of the functions, buckets, Cloud Run job, schedulers and Artifact Registry."
  default     = "us-central1"
}

variable "bq_location" {
  type        = string
  description = "BigQuery location of the three datasets (US, EU or a region); must match the raw bucket's location for load jobs."
  default     = "US"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of bucket names, which are global: <prefix>-raw and <prefix>-function-sources. Defaults to the project id."
  default     = ""
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that takes them."
  default     = {}
}

variable "source_base_url" {
  type        = string
  description = "Base URL of the FakeStore-compatible storefront API."
  default     = "https://fakestoreapi.com"

  validation {
    condition     = can(regex("^https://", var.source_base_url))
    error_message = "source_base_url must be an https:// URL."
  }
}

variable "source_kind" {
  type        = string
  description = "Kind of store to read: fakestore (the demo API), shopify (GraphQL Admin API; source_base_url is https://<shop>.myshopify.com) or woocommerce (REST API v3; source_base_url is the site). shopify and woocommerce read their credentials from the shoplake-source-api-key secret: add a version before the first run (README)."
  default     = "fakestore"

  validation {
    condition     = contains(["fakestore", "shopify", "woocommerce"], var.source_kind)
    error_message = "source_kind must be fakestore, shopify or woocommerce."
  }
}

variable "shopify_api_version" {
  type        = string
  description = "Shopify Admin API version the functions call (YYYY-01, -04, -07 or -10); used when source_kind is shopify."
  default     = "2025-07"

  validation {
    condition     = can(regex("^20[0-9]{2}-(01|04|07|10)$", var.shopify_api_version))
    error_message = "shopify_api_version must be a Shopify release such as 2025-07."
  }
}

variable "woocommerce_query_auth" {
  type        = bool
  description = "Send the WooCommerce consumer key and secret as query parameters instead of HTTP Basic, for servers that strip the Authorization header; used when source_kind is woocommerce."
  default     = false
}

variable "source_api_key_enabled" {
  type        = bool
  description = "Send an API key to the storefront. When true, add the key as a version of the shoplake-source-api-key secret before the first run. FakeStore needs none."
  default     = false
}

variable "source_api_key_header" {
  type        = string
  description = "Header that carries the storefront API key (the key itself is a Secret Manager version, never a variable)."
  default     = "X-API-Key"
}

variable "function_source_archive" {
  type        = string
  description = "Path of the functions' source zip written by `go run ./scripts/package-functions` (one archive for the four entry points)."
  default     = "../dist/functions-source.zip"
}

variable "dbt_image" {
  type        = string
  description = "Container image of the dbt transform job (dbt/Dockerfile), pushed to this platform's Artifact Registry repository."
}

variable "batch_schedule" {
  type        = string
  description = "Cron schedule (in schedule_time_zone) of IngestBatch."
  default     = "0 5 * * *"
}

variable "poll_schedule" {
  type        = string
  description = "Cron schedule of PollCarts."
  default     = "* * * * *"
}

variable "dbt_nightly_schedule" {
  type        = string
  description = "Cron schedule of the nightly dbt run with every data test (the routine runs after loads leave out the full-history tests)."
  default     = "30 3 * * *"
}

variable "schedule_time_zone" {
  type        = string
  description = "Time zone of the Cloud Scheduler jobs."
  default     = "Etc/UTC"
}

variable "carts_window_days" {
  type        = number
  description = "Days of carts PollCarts asks for (0: every cart the source has)."
  default     = 0

  validation {
    condition     = var.carts_window_days >= 0 && var.carts_window_days <= 36500
    error_message = "carts_window_days must be between 0 and 36500."
  }
}

variable "log_level" {
  type        = string
  description = "Log level of the functions: debug, info, warning or error."
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warning", "error"], var.log_level)
    error_message = "log_level must be debug, info, warning or error."
  }
}

variable "stream_max_instances" {
  type        = number
  description = "Most instances of StreamCartEvents; each serves stream_concurrency deliveries at once."
  default     = 10
}

variable "stream_concurrency" {
  type        = number
  description = "Concurrent deliveries per StreamCartEvents instance; each is a batch message of up to 1,000 events (at most 1 MiB), appended in one request."
  default     = 8
}

variable "raw_nearline_after_days" {
  type        = number
  description = "Age in days at which raw/ objects move to Nearline storage."
  default     = 30
}

variable "raw_coldline_after_days" {
  type        = number
  description = "Age in days at which raw/ objects move to Coldline storage."
  default     = 90
}

variable "rejects_retention_days" {
  type        = number
  description = "Days quarantined records under rejects/ are kept."
  default     = 30
}

variable "message_retention" {
  type        = string
  description = "How long the cart-events topic keeps messages, for replay (seconds, e.g. 604800s)."
  default     = "604800s"
}

variable "deployer" {
  type        = string
  description = "The principal that runs terraform apply: serviceAccount:shoplake-deployer@<project>.iam.gserviceaccount.com as scripts/bootstrap.sh creates it, or user:… It gets Service Account User on each account Terraform attaches to a function, job, schedule or subscription, and on no other. Empty when it holds that role some other way."
  default     = ""

  validation {
    condition     = var.deployer == "" || can(regex("^(serviceAccount|user|group):[^@]+@[^@]+$", var.deployer))
    error_message = "deployer must be serviceAccount:<email>, user:<email> or group:<email>, or empty."
  }
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) that receive the alerts."
  default     = []
}

variable "deletion_protection" {
  type        = bool
  description = "Protect BigQuery tables from deletion by Terraform. Turn off only in throwaway projects."
  default     = true
}

variable "bi_readers" {
  type        = list(string)
  description = "Principals of the BI tools and analysts (group:…, serviceAccount:…, user:…): they may read bq_analytics and run query jobs in the project, and nothing else (no raw or staging dataset, no bucket, no secret)."
  default     = []

  validation {
    condition     = alltrue([for m in var.bi_readers : can(regex("^(group|serviceAccount|user|domain):[^ ]+$", m))])
    error_message = "Each of bi_readers must be an IAM principal: group:…, serviceAccount:…, user:… or domain:…."
  }
}

variable "personal_data_readers" {
  type        = list(string)
  description = "Principals (group:…, serviceAccount:…, user:…) who may read the marts' personal columns (dim_users: e-mail pseudonym, city, postal code, coordinates), which carry the policy tag \"personal\". They read the marts through bi_readers; this adds the personal columns (bi_readers alone read every other column)."
  default     = []

  validation {
    condition     = alltrue([for m in var.personal_data_readers : can(regex("^(group|serviceAccount|user|domain):[^ ]+$", m))])
    error_message = "Each of personal_data_readers must be an IAM principal: group:…, serviceAccount:…, user:… or domain:…."
  }
}

variable "query_mib_per_user_per_day" {
  type        = number
  description = "Most MiB that each user's BigQuery queries may scan a day in the project (BI readers and the dbt job alike); 0 leaves BigQuery's default, unlimited. 1048576 is 1 TiB."
  default     = 1048576

  validation {
    condition     = var.query_mib_per_user_per_day == 0 || var.query_mib_per_user_per_day >= 10240
    error_message = "query_mib_per_user_per_day must be 0 (unlimited) or at least 10240 (10 GiB), which the dbt job's full builds need."
  }
}
