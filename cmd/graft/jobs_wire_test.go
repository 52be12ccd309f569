package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// jobs submit sends absolute paths: relative ones are made absolute
// against the working directory, part by part in comma lists.
func TestAbsPaths(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, key, want string }{
		{`{"backbone":"m"}`, "backbone", filepath.Join(wd, "m")},
		{`{"data":"/abs/d"}`, "data", "/abs/d"},
		{`{"data":"a.rec, /b.rec,c/*.rec"}`, "data", filepath.Join(wd, "a.rec") + ",/b.rec," + filepath.Join(wd, "c/*.rec")},
		{`{"val":"../v"}`, "val", filepath.Join(filepath.Dir(wd), "v")},
		{`{"data":3}`, "data", ""},
	} {
		b, err := absPaths([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if got, _ := m[c.key].(string); got != c.want {
			t.Errorf("%s: %s = %q, want %q", c.in, c.key, got, c.want)
		}
	}
	if _, err := absPaths([]byte(`[1]`)); err == nil {
		t.Error("a non-object was accepted")
	}
}
