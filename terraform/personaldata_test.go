package terraform

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// fineGrainedReader is the role that reads the columns of a policy tag.
const fineGrainedReader = "roles/datacatalog.categoryFineGrainedReader"

// personalTagReaders are the only members the fine-grained read of the
// personal columns may go to: the named readers, and the dbt account that
// builds and tests them.
var personalTagReaders = []string{"each.value", `"serviceAccount:${google_service_account.dbt.email}"`}

// personalDataProblems checks that the marts' personal columns are
// protected: a taxonomy that enforces fine-grained access control, its
// policy tag handed to dbt, which tags the columns with it; the tag's
// fine-grained read only for var.personal_data_readers and the dbt account
// (and those readers given nothing else); and a daily cap on each user's
// query bytes.
func personalDataProblems(c *tfConfig) []string {
	var out []string
	enforced := false
	for _, r := range c.ofType("google_data_catalog_taxonomy") {
		if a := attr(r.Block, "activated_policy_types"); a != nil && strings.Contains(c.text(r.file, a.Expr), `"FINE_GRAINED_ACCESS_CONTROL"`) {
			enforced = true
		}
	}
	if !enforced {
		out = append(out, "no policy tag taxonomy enforces fine-grained access control: a tagged column would be readable by every reader of its dataset")
	}
	for _, r := range c.resources {
		src := c.source(r)
		roles := c.roles(r)
		member := ""
		if a := attr(r.Block, "member"); a != nil {
			member = c.text(r.file, a.Expr)
		}
		if slices.Contains(roles, fineGrainedReader) {
			forEach := ""
			if a := attr(r.Block, "for_each"); a != nil {
				forEach = c.text(r.file, a.Expr)
			}
			ok := slices.Contains(personalTagReaders, member) && (member != "each.value" || forEach == "toset(var.personal_data_readers)")
			if !ok {
				out = append(out, fmt.Sprintf("%s (%s) grants %s to %s %s: only var.personal_data_readers and the dbt account may read the personal columns",
					r.name(), r.file, fineGrainedReader, member, forEach))
			}
		}
		if strings.Contains(src, "var.personal_data_readers") && !(len(roles) == 1 && roles[0] == fineGrainedReader) {
			out = append(out, fmt.Sprintf("%s (%s) grants the personal data readers %v: they get the fine-grained read of the personal columns, nothing else (bi_readers is for the rest)",
				r.name(), r.file, roles))
		}
	}
	if !jobPassesPersonalTag(c) {
		out = append(out, "the dbt job (google_cloud_run_v2_job) is not given SHOPLAKE_PERSONAL_POLICY_TAG = google_data_catalog_policy_tag.personal.name: dbt cannot tag the personal columns")
	}
	capped := false
	for _, r := range c.ofType("google_cloud_quotas_quota_preference") {
		if stringAttr(r.Block, "service") == "bigquery.googleapis.com" && stringAttr(r.Block, "quota_id") == "QueryUsagePerUserPerDay" {
			capped = true
		}
	}
	if !capped {
		out = append(out, "no quota preference caps each user's daily query usage (bigquery.googleapis.com, QueryUsagePerUserPerDay)")
	}
	return out
}

// jobPassesPersonalTag reports whether a Cloud Run job's container has the
// env SHOPLAKE_PERSONAL_POLICY_TAG set to the personal policy tag's name.
func jobPassesPersonalTag(c *tfConfig) bool {
	var walk func(b *hclsyntax.Block, file string) bool
	walk = func(b *hclsyntax.Block, file string) bool {
		if b.Type == "env" && stringAttr(b, "name") == "SHOPLAKE_PERSONAL_POLICY_TAG" {
			a := attr(b, "value")
			return a != nil && c.text(file, a.Expr) == "google_data_catalog_policy_tag.personal.name"
		}
		for _, nb := range b.Body.Blocks {
			if walk(nb, file) {
				return true
			}
		}
		return false
	}
	for _, r := range c.ofType("google_cloud_run_v2_job") {
		if walk(r.Block, r.file) {
			return true
		}
	}
	return false
}
