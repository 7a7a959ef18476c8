package terraform

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// deployerRole is the role scripts/bootstrap.sh must give the deployer for
// each resource and data source type the plan uses.
var deployerRole = map[string]string{
	"google_project_service":                         "roles/serviceusage.serviceUsageAdmin",
	"google_service_account":                         "roles/iam.serviceAccountAdmin",
	"google_service_account_iam_member":              "roles/iam.serviceAccountAdmin",
	"google_project_iam_member":                      "roles/resourcemanager.projectIamAdmin",
	"google_storage_bucket":                          "roles/storage.admin",
	"google_storage_bucket_iam_member":               "roles/storage.admin",
	"google_storage_bucket_object":                   "roles/storage.admin",
	"google_storage_project_service_account":         "roles/storage.admin",
	"google_bigquery_dataset":                        "roles/bigquery.admin",
	"google_bigquery_dataset_iam_member":             "roles/bigquery.admin",
	"google_bigquery_table":                          "roles/bigquery.admin",
	"google_pubsub_topic":                            "roles/pubsub.admin",
	"google_pubsub_topic_iam_member":                 "roles/pubsub.admin",
	"google_pubsub_subscription":                     "roles/pubsub.admin",
	"google_pubsub_subscription_iam_member":          "roles/pubsub.admin",
	"google_secret_manager_secret":                   "roles/secretmanager.admin",
	"google_secret_manager_secret_iam_member":        "roles/secretmanager.admin",
	"google_cloudfunctions2_function":                "roles/cloudfunctions.admin",
	"google_cloud_run_v2_job":                        "roles/run.admin",
	"google_cloud_run_v2_job_iam_member":             "roles/run.admin",
	"google_cloud_run_service_iam_member":            "roles/run.admin",
	"google_cloud_scheduler_job":                     "roles/cloudscheduler.admin",
	"google_artifact_registry_repository":            "roles/artifactregistry.admin",
	"google_artifact_registry_repository_iam_member": "roles/artifactregistry.admin",
	"google_logging_metric":                          "roles/logging.configWriter",
	"google_monitoring_alert_policy":                 "roles/monitoring.alertPolicyEditor",
	"google_monitoring_dashboard":                    "roles/monitoring.dashboardEditor",
	"google_project":                                 "roles/browser",
	"google_project_iam_custom_role":                 "roles/iam.roleAdmin",
	"google_cloud_quotas_quota_preference":           "roles/cloudquotas.admin",
	"google_data_catalog_taxonomy":                   "roles/datacatalog.categoryAdmin",
	"google_data_catalog_taxonomy_iam_member":        "roles/datacatalog.categoryAdmin",
	"google_data_catalog_policy_tag":                 "roles/datacatalog.categoryAdmin",
	"google_data_catalog_policy_tag_iam_member":      "roles/datacatalog.categoryAdmin",
}

// bashArray reads the elements of a bash array assignment NAME=( … ).
func bashArray(script, name string) []string {
	m := regexp.MustCompile(`(?s)\n` + name + `=\((.*?)\n\)`).FindStringSubmatch(script)
	if m == nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(m[1], "\n") {
		if f := strings.Fields(strings.SplitN(line, "#", 2)[0]); len(f) > 0 {
			out = append(out, f...)
		}
	}
	return out
}

// bootstrapProblems checks scripts/bootstrap.sh against the plan: the
// deployer holds the role of every resource type, and may grant on the
// project exactly the roles the plan grants there.
func bootstrapProblems(c *tfConfig, script string) []string {
	var out []string
	roles := bashArray(script, "DEPLOYER_ROLES")
	if len(roles) == 0 {
		return []string{"scripts/bootstrap.sh has no DEPLOYER_ROLES"}
	}
	types := map[string]bool{}
	for _, b := range c.blocks {
		if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 {
			types[b.Labels[0]] = true
		}
	}
	for typ := range types {
		role, ok := deployerRole[typ]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: which role lets the deployer manage it? add it to deployerRole and scripts/bootstrap.sh", typ))
		case role == "roles/resourcemanager.projectIamAdmin":
			// granted with its own condition, below
		case !slices.Contains(roles, role):
			out = append(out, fmt.Sprintf("the plan has %s but the deployer lacks %s", typ, role))
		}
	}
	for _, r := range roles {
		if primitiveRole.MatchString(`"` + r + `"`) {
			out = append(out, fmt.Sprintf("the deployer holds the primitive role %s", r))
		}
	}
	var granted []string
	for _, r := range c.ofType("google_project_iam_member") {
		for _, role := range c.roles(r) {
			if !slices.Contains(granted, role) {
				granted = append(granted, role)
			}
		}
	}
	sort.Strings(granted)
	allowed := bashArray(script, "PROJECT_GRANTS")
	sort.Strings(allowed)
	if !slices.Equal(granted, allowed) {
		out = append(out, fmt.Sprintf("the plan grants %v on the project; scripts/bootstrap.sh lets the deployer grant %v", granted, allowed))
	}
	if !strings.Contains(script, "modifiedGrantsByRole") {
		out = append(out, "the deployer's Project IAM Admin is not limited to PROJECT_GRANTS")
	}
	return out
}

func readBootstrap(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../scripts/bootstrap.sh")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBootstrapGivesTheDeployerWhatThePlanNeeds(t *testing.T) {
	c, err := parse(loadDir(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range bootstrapProblems(c, readBootstrap(t)) {
		t.Error(p)
	}
}

func TestBootstrapCheckCatchesBreakage(t *testing.T) {
	script := readBootstrap(t)
	cases := []struct {
		name   string
		c      *tfConfig
		script string
		want   string
	}{
		{"a role missing", edited(t, "apis.tf", "# The APIs", "# The APIs"), strings.Replace(script, "  roles/pubsub.admin ", "  ", 1), "lacks roles/pubsub.admin"},
		{"a new project grant", edited(t, "iam.tf", `role    = "roles/bigquery.jobUser"`, `role    = "roles/bigquery.dataViewer"`), script, "the plan grants"},
		{"a new resource type", edited(t, "apis.tf", "# The APIs", "resource \"google_monitoring_group\" \"g\" {\n  display_name = \"g\"\n  filter       = \"\"\n}\n# The APIs"), script, "google_monitoring_group: which role"},
		{"owner", edited(t, "apis.tf", "# The APIs", "# The APIs"), strings.Replace(script, "  roles/browser ", "  roles/owner ", 1), "primitive role roles/owner"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reported(t, bootstrapProblems(tc.c, tc.script), tc.want)
		})
	}
}
