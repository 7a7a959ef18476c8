package terraform

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// projectRoles are the only roles granted on the whole project: permissions
// that exist at no narrower resource.
var projectRoles = map[string]bool{
	"roles/logging.logWriter":       true,
	"roles/monitoring.metricWriter": true,
	"roles/bigquery.jobUser":        true, // jobs belong to the project
	"roles/eventarc.eventReceiver":  true, // trigger identities
	"roles/pubsub.publisher":        true, // storage agent → Eventarc's own topics
}

// conditionalProjectRoles may be granted on the project only with an IAM
// condition that names the one resource they are for: the role, and what the
// condition's expression must contain.
var conditionalProjectRoles = map[string]string{
	// Cloud Functions' own source bucket, created by the first deploy.
	"roles/storage.objectViewer": `resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-`,
}

var primitiveRole = regexp.MustCompile(`"roles/(owner|editor|viewer)"`)

// violations lists every broken policy, each naming the resource.
func violations(c *tfConfig) []string {
	var out []string
	add := func(r *block, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s (%s): %s", r.name(), r.file, fmt.Sprintf(format, args...)))
	}
	for _, r := range c.blocks {
		src := c.source(r)
		if strings.Contains(src, "allUsers") || strings.Contains(src, "allAuthenticatedUsers") {
			add(r, "grants to allUsers or allAuthenticatedUsers")
		}
		if primitiveRole.MatchString(src) {
			add(r, "grants a primitive role")
		}
	}
	for _, r := range c.resources {
		typ := r.Labels[0]
		switch {
		case strings.HasSuffix(typ, "_iam_binding") || strings.HasSuffix(typ, "_iam_policy"):
			add(r, "authoritative IAM (%s) would remove grants made elsewhere; use *_iam_member", typ)
		case typ == "google_project_iam_member":
			roles := c.roles(r)
			if len(roles) == 0 {
				add(r, "role is not a constant; project-level roles must be checkable")
			}
			for _, role := range roles {
				narrowed := false
				if want, ok := conditionalProjectRoles[role]; ok {
					a := attr(r.Block, "condition", "expression")
					narrowed = a != nil && strings.Contains(c.text(r.file, a.Expr), want)
				}
				if !projectRoles[role] && !narrowed {
					add(r, "role %q granted on the whole project; bind it on the resource", role)
				}
			}
		}
	}
	for _, r := range c.ofType("google_storage_bucket") {
		if !isTrue(r, "uniform_bucket_level_access") {
			add(r, "uniform bucket-level access is not on")
		}
		if stringAttr(r.Block, "public_access_prevention") != "enforced" {
			add(r, "public access prevention is not enforced")
		}
		if !isTrue(r, "versioning", "enabled") {
			add(r, "versioning is off")
		}
		if isTrue(r, "force_destroy") {
			add(r, "force_destroy would delete data with the bucket")
		}
	}
	for _, r := range c.ofType("google_cloudfunctions2_function") {
		if ingress := stringAttr(r.Block, "service_config", "ingress_settings"); ingress != "ALLOW_INTERNAL_ONLY" {
			add(r, "ingress %q: functions take only internal traffic (Scheduler, Eventarc, Pub/Sub)", ingress)
		}
		if attr(r.Block, "service_config", "service_account_email") == nil {
			add(r, "runs as the default compute account; give it its own")
		}
		for _, trig := range nested(r.Block, "event_trigger") {
			if a := trig.Body.Attributes["retry_policy"]; a == nil || c.text(r.file, a.Expr) != `"RETRY_POLICY_RETRY"` {
				add(r, "event trigger without retry")
			}
			if trig.Body.Attributes["service_account_email"] == nil {
				add(r, "event trigger without its own service account")
			}
		}
	}
	for _, r := range c.ofType("google_cloud_scheduler_job") {
		// OIDC for the functions; OAuth only for Google APIs.
		oidc := attr(r.Block, "http_target", "oidc_token", "service_account_email") != nil
		oauth := attr(r.Block, "http_target", "oauth_token", "service_account_email") != nil
		uri := attr(r.Block, "http_target", "uri")
		google := uri != nil && strings.HasPrefix(c.text(r.file, uri.Expr), `"https://run.googleapis.com/`)
		if !oidc && !(oauth && google) {
			add(r, "scheduler call without an OIDC token (or an OAuth token to a Google API)")
		}
		if len(nested(r.Block, "retry_config")) == 0 {
			add(r, "scheduler job without retries")
		}
	}
	for _, r := range c.ofType("google_pubsub_subscription") {
		if len(nested(r.Block, "push_config")) == 0 {
			continue
		}
		if attr(r.Block, "push_config", "oidc_token", "service_account_email") == nil {
			add(r, "push without an OIDC token")
		}
		if attr(r.Block, "dead_letter_policy", "dead_letter_topic") == nil {
			add(r, "push subscription without a dead-letter topic")
		}
	}
	for _, r := range c.ofType("google_pubsub_topic") {
		if attr(r.Block, "message_retention_duration") == nil {
			add(r, "topic keeps no messages for replay")
		}
	}
	for _, r := range c.ofType("google_secret_manager_secret_version") {
		add(r, "secret values are added out of band, never in Terraform")
	}
	for _, r := range c.ofType("google_bigquery_dataset") {
		if attr(r.Block, "description") == nil || attr(r.Block, "labels") == nil {
			add(r, "dataset without a description and labels")
		}
	}
	for _, b := range c.blocks {
		if b.Type != "variable" {
			continue
		}
		if b.Body.Attributes["type"] == nil || b.Body.Attributes["description"] == nil {
			add(b, "variable without a type and a description")
		}
	}
	return out
}

// isTrue reports whether an attribute of r is the constant true.
func isTrue(r *block, path ...string) bool {
	a := attr(r.Block, path...)
	if a == nil {
		return false
	}
	v, ok := literal(a.Expr)
	return ok && v.Type() == cty.Bool && v.True()
}
