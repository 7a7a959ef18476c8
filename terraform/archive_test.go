package terraform

import (
	"fmt"

	"github.com/shoplake/shoplake/shared/lake"
)

// archiveProblems checks the Cloud Storage subscription that archives cart
// events against the names the Go code reads (shared/lake): a drift would
// leave the archive where neither the replay nor LoadRawObject's filter
// looks. The Pub/Sub service agent must be able to write the raw bucket.
func archiveProblems(c *tfConfig) []string {
	var out []string
	var found int
	for _, r := range c.ofType("google_pubsub_subscription") {
		if len(nested(r.Block, "cloud_storage_config")) == 0 {
			continue
		}
		found++
		want := map[string]string{
			"filename_prefix":          lake.CartEventsArchiveFilePrefix,
			"filename_datetime_format": lake.CartEventsArchiveDatetimeFormat,
			"filename_suffix":          lake.CartEventsArchiveSuffix,
		}
		for name, v := range want {
			if got := stringAttr(r.Block, "cloud_storage_config", name); got != v {
				out = append(out, fmt.Sprintf("%s: %s is %q, the Go code reads %q", r.name(), name, got, v))
			}
		}
		if b := attr(r.Block, "cloud_storage_config", "bucket"); b == nil || c.text(r.file, b.Expr) != "google_storage_bucket.raw.name" {
			out = append(out, fmt.Sprintf("%s: does not write to the raw bucket", r.name()))
		}
		if t := attr(r.Block, "topic"); t == nil || c.text(r.file, t.Expr) != "google_pubsub_topic.cart_events.id" {
			out = append(out, fmt.Sprintf("%s: does not read cart-events", r.name()))
		}
		cfg := nested(r.Block, "cloud_storage_config")[0]
		if len(nested(cfg, "avro_config")) > 0 {
			out = append(out, fmt.Sprintf("%s: not in text format (one message body a line)", r.name()))
		}
	}
	if found != 1 {
		out = append(out, fmt.Sprintf("%d Cloud Storage subscriptions, want 1 archiving cart-events", found))
	}
	roles := map[string]bool{}
	for _, r := range c.ofType("google_storage_bucket_iam_member") {
		b, m := attr(r.Block, "bucket"), attr(r.Block, "member")
		if b != nil && m != nil && c.text(r.file, b.Expr) == "google_storage_bucket.raw.name" && c.text(r.file, m.Expr) == "local.pubsub_agent" {
			for _, role := range c.roles(r) {
				roles[role] = true
			}
		}
	}
	for _, role := range []string{"roles/storage.objectCreator", "roles/storage.legacyBucketReader"} {
		if !roles[role] {
			out = append(out, fmt.Sprintf("the Pub/Sub service agent lacks %s on the raw bucket", role))
		}
	}
	return out
}
