package terraform

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// cloudBuild is the part of cloudbuild.yaml the checks read.
type cloudBuild struct {
	Steps []struct {
		ID         string   `yaml:"id"`
		Name       string   `yaml:"name"`
		Entrypoint string   `yaml:"entrypoint"`
		Args       []string `yaml:"args"`
		Dir        string   `yaml:"dir"`
		WaitFor    []string `yaml:"waitFor"`
		Env        []string `yaml:"env"`
	} `yaml:"steps"`
	Substitutions map[string]string `yaml:"substitutions"`
	Options       map[string]any    `yaml:"options"`
	Timeout       string            `yaml:"timeout"`
}

// builtins are the substitutions Cloud Build itself provides to every build.
var builtins = map[string]bool{"PROJECT_ID": true, "BUILD_ID": true, "PROJECT_NUMBER": true, "LOCATION": true}

var substitution = regexp.MustCompile(`\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))`)

// cloudBuildProblems checks a Cloud Build file: every step named, uniquely,
// with a pinned builder image; waitFor names earlier steps; every
// substitution used is declared (or built in) and every declared one used.
func cloudBuildProblems(src []byte) []string {
	var cb cloudBuild
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&cb); err != nil {
		return []string{"cloudbuild.yaml does not parse: " + err.Error()}
	}
	var out []string
	if len(cb.Steps) == 0 {
		out = append(out, "no steps")
	}
	seen := map[string]bool{}
	used := map[string]bool{}
	for i, s := range cb.Steps {
		if s.ID == "" {
			out = append(out, fmt.Sprintf("step %d has no id", i+1))
		}
		if seen[s.ID] {
			out = append(out, "step id "+s.ID+" is used twice")
		}
		image := s.Name[strings.LastIndex(s.Name, "/")+1:]
		if _, tag, ok := strings.Cut(image, ":"); !ok || tag == "latest" {
			out = append(out, "step "+s.ID+": builder "+s.Name+" is not pinned to a release")
		}
		for _, w := range s.WaitFor {
			if w != "-" && !seen[w] {
				out = append(out, "step "+s.ID+" waits for "+w+", which is not an earlier step")
			}
		}
		seen[s.ID] = true
		for _, text := range append(append([]string{s.Name, s.Entrypoint, s.Dir}, s.Args...), s.Env...) {
			for _, m := range substitution.FindAllStringSubmatch(text, -1) {
				name := m[1] + m[2]
				used[name] = true
				if !builtins[name] {
					if _, ok := cb.Substitutions[name]; !ok {
						out = append(out, "step "+s.ID+" uses $"+name+", which is not declared in substitutions")
					}
				}
			}
		}
	}
	for name := range cb.Substitutions {
		if !strings.HasPrefix(name, "_") {
			out = append(out, "substitution "+name+" must start with _")
		}
		if !used[name] {
			out = append(out, "substitution "+name+" is declared but never used")
		}
	}
	return out
}

func TestCloudBuildIsWellFormed(t *testing.T) {
	src, err := os.ReadFile("../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cloudBuildProblems(src) {
		t.Error(p)
	}
}

func TestCloudBuildChecksCatchMistakes(t *testing.T) {
	src, err := os.ReadFile("../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, old, new, want string }{
		{"unnamed step", "  - id: go-vet\n", "  -\n", "has no id"},
		{"undeclared substitution", "${_TF_STATE_BUCKET}", "${_TF_BUCKET}", "uses $_TF_BUCKET, which is not declared"},
		{"unpinned builder", "name: hashicorp/terraform:1.11.4\n    args: [\"fmt\"", "name: hashicorp/terraform\n    args: [\"fmt\"", "is not pinned"},
		{"unknown dependency", `waitFor: ["terraform-plan"]`, `waitFor: ["plan"]`, "waits for plan"},
	}
	for _, tt := range tests {
		if !strings.Contains(string(src), tt.old) {
			t.Fatalf("%s: cloudbuild.yaml no longer contains %q", tt.name, tt.old)
		}
		broken := strings.Replace(string(src), tt.old, tt.new, 1)
		found := false
		for _, p := range cloudBuildProblems([]byte(broken)) {
			found = found || strings.Contains(p, tt.want)
		}
		if !found {
			t.Errorf("%s: not reported (want %q)", tt.name, tt.want)
		}
	}
}
