package terraform

import (
	"fmt"
	"strings"
)

// firstApplyProblems lists what would make the first `terraform apply` on an
// empty project fail, or leave a part silently broken: grants Google's
// services need that no resource of ours implies, APIs and their order, and
// locations that cannot work together.
func firstApplyProblems(c *tfConfig) []string {
	var out []string

	// Function builds read the copy of the source Cloud Functions keeps in
	// gcf-v2-sources-<number>-<region>.
	if !c.anyResource("google_project_iam_member", `"roles/storage.objectViewer"`, "google_service_account.function_build", "gcf-v2-sources-${data.google_project.this.number}-${var.region}") {
		out = append(out, "the build account cannot read gcf-v2-sources-<project number>-<region>: every function build fails")
	}

	// Cloud Storage writes usage logs as cloud-storage-analytics@google.com.
	for _, b := range c.ofType("google_storage_bucket") {
		a := attr(b.Block, "logging", "log_bucket")
		if a == nil {
			continue
		}
		target := c.text(b.file, a.Expr)
		bucket := strings.TrimSuffix(target, ".name")
		if !c.anyResource("google_storage_bucket_iam_member", `"roles/storage.objectCreator"`, `"group:cloud-storage-analytics@google.com"`, bucket+".name") {
			out = append(out, fmt.Sprintf("%s logs to %s, which does not let group:cloud-storage-analytics@google.com create objects: no log arrives", b.name(), target))
		}
	}

	// The APIs an empty project lacks, and the order around them.
	services := c.text("apis.tf", c.locals["services"])
	for _, api := range []string{"cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com", "iam.googleapis.com"} {
		if !strings.Contains(services, `"`+api+`"`) {
			out = append(out, fmt.Sprintf("apis.tf does not enable %s", api))
		}
	}
	for _, typ := range []string{"google_service_account", "google_project_iam_member"} {
		for _, r := range c.ofType(typ) {
			if d := attr(r.Block, "depends_on"); d == nil || !strings.Contains(c.text(r.file, d.Expr), "google_project_service.this") {
				out = append(out, fmt.Sprintf("%s does not wait for the APIs (depends_on = [google_project_service.this])", r.name()))
			}
		}
	}

	// Pub/Sub mints the tokens of every Eventarc trigger's account.
	for _, f := range c.ofType("google_cloudfunctions2_function") {
		for _, trig := range nested(f.Block, "event_trigger") {
			if trig.Body.Attributes["service_account_email"] == nil {
				continue
			}
			if !c.anyResource("google_service_account_iam_member", `"roles/iam.serviceAccountTokenCreator"`, "local.pubsub_agent", `google_service_account.function["load_raw_object"]`) {
				out = append(out, fmt.Sprintf("%s: the Pub/Sub agent cannot mint the trigger's tokens (projects older than 2021-04-08)", f.name()))
			}
		}
	}

	// Whoever applies attaches each account: Service Account User on those
	// accounts, granted before anything runs as them.
	for _, typ := range []string{"google_cloudfunctions2_function", "google_cloud_run_v2_job", "google_cloud_scheduler_job", "google_pubsub_subscription"} {
		for _, r := range c.ofType(typ) {
			if !strings.Contains(c.source(r), "google_service_account.") {
				continue // attaches no account of ours
			}
			if d := attr(r.Block, "depends_on"); d == nil || !strings.Contains(c.text(r.file, d.Expr), "google_service_account_iam_member.deployer_acts_as") {
				out = append(out, fmt.Sprintf("%s attaches a service account before the deployer may act as it", r.name()))
			}
		}
	}
	if !c.anyResource("google_service_account_iam_member", `"roles/iam.serviceAccountUser"`, "var.deployer", "local.attached_accounts") {
		out = append(out, "the deployer is not granted Service Account User on the accounts it attaches")
	}

	// A dataset location that cannot load from the raw bucket's region.
	check := c.text("bigquery.tf", c.locals["bq_loads_from_region"])
	if !strings.Contains(check, "var.bq_location") || !strings.Contains(check, "var.region") {
		out = append(out, "no local.bq_loads_from_region relating var.bq_location to var.region")
	}
	for _, r := range c.ofType("google_bigquery_dataset") {
		pre := attr(r.Block, "lifecycle", "precondition", "condition")
		if pre == nil || c.text(r.file, pre.Expr) != "local.bq_loads_from_region" {
			out = append(out, fmt.Sprintf("%s accepts a bq_location its loads cannot use with the bucket's region", r.name()))
		}
	}
	return out
}

// anyResource reports whether a resource of type typ has source text
// containing every one of parts.
func (c *tfConfig) anyResource(typ string, parts ...string) bool {
	for _, r := range c.ofType(typ) {
		src := c.source(r)
		found := true
		for _, p := range parts {
			found = found && strings.Contains(src, p)
		}
		if found {
			return true
		}
	}
	return false
}
