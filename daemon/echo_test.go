package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
)

// Issue 22, defect 13: an error quotes at most a bounded prefix of what a
// request sent. 100k tags, a 300 KB model name or an unknown field of
// 300 KB (each within the 1 MiB body limit) get their 4xx in a few KiB,
// naming the field.
func TestErrorsDoNotEchoHugeValues(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	spec := func(edit func(m map[string]any)) []byte {
		b, _ := json.Marshal(f.spec(1))
		var m map[string]any
		json.Unmarshal(b, &m)
		edit(m)
		b, _ = json.Marshal(m)
		return b
	}
	tags := make([]string, 100_000)
	for i := range tags {
		tags[i] = "t"
	}
	long := strings.Repeat("x", 300_000)
	// GET /v1/backbones:inspect quotes its path too.
	resp, err := http.Get(s.Base + "/v1/backbones:inspect?path=/" + long)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || len(b) > 16<<10 || !strings.Contains(string(b), "path") {
		t.Errorf("inspect of a 300 KB path: %d with %d bytes; want 400 under 16 KiB naming path", resp.StatusCode, len(b))
	}
	for _, c := range []struct {
		name, field string
		body        []byte
	}{
		{"100k tags", "tags", spec(func(m map[string]any) { m["tags"] = tags })},
		{"a long model name", "model", spec(func(m map[string]any) { m["model"] = long })},
		{"a long unknown field", long[:20], spec(func(m map[string]any) { m[long] = 1 })},
	} {
		if len(c.body) > 1<<20 {
			t.Fatalf("%s: the body is %d bytes, over the daemon's limit", c.name, len(c.body))
		}
		resp, err := http.Post(s.Base+"/v1/jobs", "application/json", bytesReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 || len(b) > 16<<10 {
			t.Errorf("%s: %d with %d bytes; want a 4xx under 16 KiB", c.name, resp.StatusCode, len(b))
			continue
		}
		var e api.Error
		if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, c.field) {
			t.Errorf("%s: the answer does not name %s: %.300s", c.name, c.field, b)
		}
	}
}
