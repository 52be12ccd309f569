package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/job"
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

// TestSpecFieldsAreFlags: every setting of api.JobSpec is a flag of graft
// train. (internal/run/job's TestSpecFieldsReachRunSpec checks api.RunSpec;
// daemon/openapi.yaml's JobRequest and the Python client's are generated
// from api.JobRequest, and internal/cli/specgen's tests check them.)
func TestSpecFieldsAreFlags(t *testing.T) {
	flags := TrainCommand("", nil).Flags()
	for _, name := range specNames() {
		// sweep is graft sweep's (--vary, --space, --trials), not a flag of train.
		if flags.Lookup(strings.ReplaceAll(name, "_", "-")) == nil && name != "sweep" {
			t.Errorf("%s: no flag --%s of graft train (internal/cli/train.go)", name, strings.ReplaceAll(name, "_", "-"))
		}
	}
}
