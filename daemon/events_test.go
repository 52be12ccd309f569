package daemon_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
)

// Issue 11, defect 14: a reconnecting browser's Last-Event-ID wins over
// the ?after= of the URL it keeps; the largest id sends nothing rather
// than wrapping around to everything.
func TestEventResumeRules(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s %s", j.State, j.Error)
	}
	ids := func(query, lastID string) []string {
		req, _ := http.NewRequest("GET", s.Base+"/v1/jobs/"+j.ID+"/events?follow=false"+query, nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out []string
		for _, m := range regexp.MustCompile(`(?m)^id: (\d+)$`).FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
		return out
	}
	all := ids("", "")
	if len(all) < 5 {
		t.Fatalf("only %d events", len(all))
	}
	if got := ids("&after=1", "3"); len(got) == 0 || got[0] != "4" {
		t.Errorf("after=1 with Last-Event-ID 3: ids %v, want from 4", got)
	}
	if got := ids("&after=2", ""); len(got) == 0 || got[0] != "3" {
		t.Errorf("after=2: ids %v, want from 3", got)
	}
	if got := ids("&after=18446744073709551615", ""); len(got) != 0 {
		t.Errorf("after the largest id: %d events replayed", len(got))
	}
}
