package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
)

// Issue 22, defect 8: a class name with U+0085 (NEL) reaches the event
// stream escaped, so no reader splits an event at it; decoded, the name
// is whole.
func TestEventStreamEscapesNEL(t *testing.T) {
	f := newFixture(t, 5)
	data := otherData(t, f, "a\u0085b", "c")
	// A duplicate in each class puts its path in the done event.
	for _, c := range []string{"a\u0085b", "c"} {
		ps, _ := filepath.Glob(filepath.Join(data, c, "*.png"))
		b, err := os.ReadFile(ps[0])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(data, c, "copy.png"), b, 0o644)
	}
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, data)})
	req := f.spec(1)
	req.Data = data
	j := succeeded(t, s, req)
	resp, err := http.Get(s.Base + "/v1/jobs/" + j.ID + "/events?follow=false")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(raw, []byte("\u0085")) {
		t.Error("the stream carries a raw U+0085")
	}
	found := false
	for _, line := range strings.Split(string(raw), "\n") {
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var e api.JobEvent
		if err := json.Unmarshal([]byte(d), &e); err != nil {
			t.Fatalf("an event line is not JSON: %v: %.200s", err, d)
		}
		var ev api.Event
		if e.Type != "done" || json.Unmarshal(e.Data, &ev) != nil || ev.Summary == nil {
			continue
		}
		for _, g := range ev.Summary.Duplicates.Examples {
			for _, p := range g {
				found = found || strings.Contains(p, "/a\u0085b/")
			}
		}
	}
	if !found {
		t.Error("no event names the class a\\u0085b")
	}
}
