package terraform

import (
	"fmt"
	"strings"
)

// biGrants are the only grants var.bi_readers may have: the resource type,
// where it grants (the expression of its dataset_id or project), and the
// role.
var biGrants = []struct{ typ, target, role string }{
	{"google_bigquery_dataset_iam_member", `google_bigquery_dataset.this["analytics"].dataset_id`, "roles/bigquery.dataViewer"},
	{"google_project_iam_member", "var.project_id", "roles/bigquery.jobUser"},
}

// biAccessProblems checks that the BI readers (var.bi_readers) may read
// bq_analytics and run query jobs, and nothing else: every resource that
// names them is one of biGrants, and the read of bq_analytics is there.
func biAccessProblems(c *tfConfig) []string {
	var out []string
	readsAnalytics := false
	for _, r := range c.resources {
		if !strings.Contains(c.source(r), "var.bi_readers") {
			continue
		}
		typ, roles := r.Labels[0], c.roles(r)
		target := ""
		for _, name := range []string{"dataset_id", "project", "bucket", "secret_id", "topic", "subscription", "name"} {
			if a := attr(r.Block, name); a != nil {
				target = c.text(r.file, a.Expr)
				break
			}
		}
		allowed := false
		for _, g := range biGrants {
			if typ == g.typ && target == g.target && len(roles) == 1 && roles[0] == g.role {
				allowed = true
				readsAnalytics = readsAnalytics || g.role == "roles/bigquery.dataViewer"
			}
		}
		if !allowed {
			out = append(out, fmt.Sprintf("%s (%s) grants the BI readers %v on %s: they may read bq_analytics and run query jobs, nothing else",
				r.name(), r.file, roles, target))
		}
	}
	if !readsAnalytics {
		out = append(out, "no resource lets the BI readers (var.bi_readers) read bq_analytics")
	}
	return out
}
