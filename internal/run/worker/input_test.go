package worker

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
)

// The worker's input: the current version round-trips; a version-0 input
// (a bare job record, the protocol before versions) is read as the spec;
// a newer version and unknown fields are refused with what to do.
func TestInputVersions(t *testing.T) {
	b, err := Encode(Input{Job: "job-1", Spec: api.RunSpec{Tap: "t", Device: api.MustDevice("cuda:1")}, Resume: true, Log: Log{Format: "console", Level: "debug"}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if in.Version != api.Version || in.Spec.Version != api.Version || in.Job != "job-1" || !in.Resume || in.Spec.Device != api.MustDevice("cuda:1") || in.Log.Level != "debug" {
		t.Errorf("round trip: %+v", in)
	}
	old, err := Decode(strings.NewReader(`{"backbone":"m","tap":"t","data":"d","out":"r","epochs":3}`))
	if err != nil || old.Version != 0 || old.Spec.Tap != "t" || old.Spec.Epochs != 3 || old.Resume {
		t.Errorf("version 0: %+v, %v", old, err)
	}
	for _, c := range []struct{ in, want string }{
		{`{"version":2,"spec":{}}`, "versions up to 1"},
		{`{"version":1,"spec":{},"lg":{}}`, "unknown field"},
		{`{"tapp":"x"}`, "unknown field"},
		{`not json`, "worker: input"},
	} {
		if _, err := Decode(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.in, err, c.want)
		}
	}
}

// A job the resolver refuses ends the worker's output with the error
// event carrying the message.
func TestWorkReportsAnInvalidJob(t *testing.T) {
	var out bytes.Buffer
	err := Work(context.Background(), Input{Spec: api.RunSpec{Version: api.Version, Out: "r"}}, &out, Options{})
	if err == nil || !strings.Contains(out.String(), `"event":"error"`) || !strings.Contains(out.String(), "backbone: required") {
		t.Errorf("%v; output %s", err, out.String())
	}
}
