package job

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/graft-ml/graft/api"
)

// fullSpec is a JobSpec with every field set, each to a value of its own,
// built from the type (so a new field is set too).
func fullSpec(t *testing.T) api.JobSpec {
	t.Helper()
	var s api.JobSpec
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), JSONName(v.Type().Field(i))
		if name == "version" {
			continue
		}
		raw := map[reflect.Kind]string{reflect.String: `"v-` + name + `"`, reflect.Slice: `["v-` + name + `"]`,
			reflect.Int: "7", reflect.Int64: "7", reflect.Uint64: "7", reflect.Float64: "0.25"}
		k := f.Type().Kind()
		if k == reflect.Pointer {
			k = f.Type().Elem().Kind()
		}
		js, ok := raw[k]
		switch name {
		case "device": // a device must be one
			js, ok = `"cuda:1"`, true
		case "sweep":
			js, ok = `{"space": {"lr": [0.1, 0.2]}, "trials": 3, "parallel": 2}`, true
		}
		if !ok {
			t.Fatalf("api.JobSpec.%s: kind %v: teach fullSpec a value of it", v.Type().Field(i).Name, k)
		}
		if err := json.Unmarshal([]byte(js), f.Addr().Interface()); err != nil {
			t.Fatalf("api.JobSpec.%s = %s: %v", v.Type().Field(i).Name, js, err)
		}
	}
	return s
}

func jsonFields(t *testing.T, v any) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSpecFieldsReachRunSpec: every JobSpec setting lands, as written, in
// the RunSpec field of its JSON name, and reads back from the record; the
// oracle is the two documents' JSON, not the mapping.
func TestSpecFieldsReachRunSpec(t *testing.T) {
	spec := fullSpec(t)
	var r api.RunSpec
	apply(&r, spec)
	want, got := jsonFields(t, spec), jsonFields(t, r)
	for name, v := range want {
		if name == "version" {
			continue
		}
		if string(got[name]) != string(v) {
			t.Errorf("%s: the spec sets %s, the record (api.RunSpec) has %s: apply (internal/run/job) forgot it", name, v, got[name])
		}
	}
	back := jsonFields(t, specOf(r))
	for name, v := range want {
		if string(back[name]) != string(v) {
			t.Errorf("%s: the record has %s, specOf reads back %s", name, v, back[name])
		}
	}
	// Unset stays unset: the defaults survive an empty spec.
	d := Defaults()
	apply(&d, api.JobSpec{Tags: []string{}})
	if !reflect.DeepEqual(d, Defaults()) {
		t.Errorf("an empty spec changed the defaults: %+v", d)
	}
}
