package terraform

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// dashboardProblems checks that the dashboard charts every log-based metric
// monitoring.tf defines and only those, every function (through the shared
// service list), the stream's subscription, the dbt job and the batch alert,
// and that the README links it through the dashboard_url output.
func dashboardProblems(c *tfConfig) []string {
	var problems []string
	if len(c.ofType("google_monitoring_dashboard")) != 1 {
		return []string{"want one google_monitoring_dashboard"}
	}
	src := string(c.src["dashboard.tf"])
	metrics := map[string]bool{}
	block := regexp.MustCompile(`(?s)log_metrics = \{(.*?)\n  \}\n\}`).FindStringSubmatch(string(c.src["monitoring.tf"]))
	if block == nil {
		return []string{"no log_metrics block in monitoring.tf"}
	}
	for _, m := range regexp.MustCompile(`(?m)^    (\w+) = \{`).FindAllStringSubmatch(block[1], -1) {
		metrics[m[1]] = true
	}
	charted := map[string]bool{}
	for _, m := range regexp.MustCompile(`google_logging_metric\.count\["(\w+)"\]`).FindAllStringSubmatch(src, -1) {
		charted[m[1]] = true
		if !metrics[m[1]] {
			problems = append(problems, fmt.Sprintf("the dashboard charts log metric %q, which monitoring.tf does not define", m[1]))
		}
	}
	for m := range metrics {
		if !charted[m] {
			problems = append(problems, fmt.Sprintf("log metric %s is not on the dashboard", m))
		}
	}
	for what, ref := range map[string]string{
		"every function":             "one_of(${local.dashboard_services})",
		"the stream's subscription":  "google_pubsub_subscription.cart_events_stream.name",
		"dead-lettered events":       "subscription/dead_letter_message_count",
		"the dbt job":                "google_cloud_run_v2_job.dbt.name",
		"the batch-silence alert":    "google_monitoring_alert_policy.no_batch_load.name",
		"function latency":           "run.googleapis.com/request_latencies",
		"the functions' 5xx answers": `response_code_class=\"5xx\"`,
	} {
		if !strings.Contains(src, ref) {
			problems = append(problems, fmt.Sprintf("the dashboard does not chart %s (%s)", what, ref))
		}
	}
	if readme, err := os.ReadFile("../README.md"); err != nil || !strings.Contains(string(readme), "dashboard_url") {
		problems = append(problems, "the README does not link the dashboard (terraform output dashboard_url)")
	}
	return problems
}
