package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// jobs submit sends absolute paths: relative ones are made absolute
// against the spec file's folder, part by part in comma lists.
func TestAbsPaths(t *testing.T) {
	wd := "/home/me/specs"
	for _, c := range []struct {
		in, key, want string
		said          int // paths said to be resolved
	}{
		{`{"backbone":"m"}`, "backbone", filepath.Join(wd, "m"), 1},
		{`{"data":"/abs/d"}`, "data", "/abs/d", 0},
		{`{"data":"a.rec, /b.rec,c/*.rec"}`, "data", filepath.Join(wd, "a.rec") + ",/b.rec," + filepath.Join(wd, "c/*.rec"), 2},
		{`{"val":"../v"}`, "val", filepath.Join(filepath.Dir(wd), "v"), 1},
		{`{"data":3}`, "data", "", 0},
	} {
		b, resolved, err := absPaths([]byte(c.in), wd)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if got, _ := m[c.key].(string); got != c.want {
			t.Errorf("%s: %s = %q, want %q", c.in, c.key, got, c.want)
		}
		if len(resolved) != c.said {
			t.Errorf("%s: said %q, want %d paths", c.in, resolved, c.said)
		}
	}
	if _, _, err := absPaths([]byte(`[1]`), wd); err == nil {
		t.Error("a non-object was accepted")
	}
}
