package cli

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/job"
)

// specNames are api.JobSpec's JSON names but version (each document's own).
func specNames() []string {
	var out []string
	t := reflect.TypeFor[api.JobSpec]()
	for i := range t.NumField() {
		if n := job.JSONName(t.Field(i)); n != "version" {
			out = append(out, n)
		}
	}
	return out
}

// TestSpecFieldsEverywhere: every setting of api.JobSpec is a flag of
// graft train, a property of daemon/openapi.yaml's JobRequest and a field
// of the Python client's JobRequest; a failure names the forgotten place.
// (internal/job's TestSpecFieldsReachRunSpec checks api.RunSpec.)
func TestSpecFieldsEverywhere(t *testing.T) {
	b, err := os.ReadFile("../../daemon/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	openapi := doc.Components.Schemas["JobRequest"].Properties
	if len(openapi) == 0 {
		t.Fatal("daemon/openapi.yaml: no JobRequest schema with properties")
	}

	const pyFile = "clients/python/src/graft_client/_types.py"
	py, err := os.ReadFile("../../" + pyFile)
	if err != nil {
		t.Fatal(err)
	}
	cls := regexp.MustCompile(`(?s)\nclass JobRequest:\n(.*?)\n\n\s*def `).FindSubmatch(py)
	if cls == nil {
		t.Fatalf("%s: no class JobRequest", pyFile)
	}
	pyFields := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^    (\w+): `).FindAllSubmatch(cls[1], -1) {
		pyFields[string(m[1])] = true
	}

	flags := TrainCommand("", nil).Flags()
	for _, name := range specNames() {
		// sweep is graft sweep's (--vary, --space, --trials), not a flag of train.
		if flags.Lookup(strings.ReplaceAll(name, "_", "-")) == nil && name != "sweep" {
			t.Errorf("%s: no flag --%s of graft train (internal/cli/train.go)", name, strings.ReplaceAll(name, "_", "-"))
		}
		if _, ok := openapi[name]; !ok {
			t.Errorf("%s: not a property of JobRequest in daemon/openapi.yaml", name)
		}
		if !pyFields[name] {
			t.Errorf("%s: not a field of JobRequest in %s", name, pyFile)
		}
	}
	// And back: nothing there that the spec lacks (model is the request's own).
	known := map[string]bool{"version": true, "model": true}
	for _, n := range specNames() {
		known[n] = true
	}
	for name := range openapi {
		if !known[name] {
			t.Errorf("%s: a property of JobRequest in daemon/openapi.yaml, no field of api.JobSpec", name)
		}
	}
	for name := range pyFields {
		if !known[name] {
			t.Errorf("%s: a field of JobRequest in %s, no field of api.JobSpec", name, pyFile)
		}
	}
}
