package daemon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graft-ml/graft/daemon"
)

// Issue 22, defect 13: a burst of submissions of a large folder is
// checked (its data walked) at most --max-concurrent-submissions at a
// time; the others get 503 with Retry-After at once, and GET /v1/jobs
// answers while the walks run.
func TestSubmissionWalksAreBounded(t *testing.T) {
	f := newFixture(t, 2)
	big := t.TempDir()
	// 20k empty files in one class: the walk lists them all, then the
	// spec is refused (one class), so no job is created.
	one := filepath.Join(big, "only")
	if err := os.Mkdir(one, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 20_000 {
		if err := os.WriteFile(filepath.Join(one, fmt.Sprintf("%05d.png", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, big), MaxConcurrentSubmissions: 2})
	req := f.spec(1)
	req.Data = big
	body, _ := json.Marshal(req)

	const n = 12
	var pending atomic.Int32
	pending.Store(n)
	codes := make([]int, n)
	msgs := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pending.Add(-1)
			<-start
			resp, err := http.Post(s.Base+"/v1/jobs", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i], msgs[i] = resp.StatusCode, string(b)
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %s", b)
			}
		}()
	}
	close(start)
	// Lists while submissions are outstanding: each must be answered.
	listedDuring := 0
	for pending.Load() > 0 {
		resp, err := http.Get(s.Base + "/v1/jobs")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /v1/jobs during the burst: %d", resp.StatusCode)
		}
		if pending.Load() > 0 {
			listedDuring++
		}
	}
	wg.Wait()
	busy, checked := 0, 0
	for i, c := range codes {
		switch {
		case c == 503 && strings.Contains(msgs[i], "max-concurrent-submissions"):
			busy++
		case c == 422 && strings.Contains(msgs[i], "class"):
			checked++
		default:
			t.Errorf("submission %d: %d %.300s", i, c, msgs[i])
		}
	}
	if busy == 0 || checked == 0 {
		t.Errorf("%d submissions checked, %d refused as busy: want both (12 at once, 2 slots)", checked, busy)
	}
	if listedDuring == 0 {
		t.Error("no list request was answered while submissions were being checked")
	}
	t.Logf("%d checked, %d busy, %d lists answered during the burst", checked, busy, listedDuring)

	// Inspecting a backbone (a graph read) takes a slot too: while two
	// submissions are checked, an inspection gets 503. The two keep
	// submitting until an inspection has met them (or a minute passed):
	// on a loaded machine one pair of checks can end before the first
	// inspection arrives.
	stop := make(chan struct{})
	var walkers sync.WaitGroup
	for range 2 {
		walkers.Add(1)
		go func() {
			defer walkers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(s.Base+"/v1/jobs", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	inspectBusy := 0
	for deadline := time.Now().Add(time.Minute); inspectBusy == 0 && time.Now().Before(deadline); {
		resp, err := http.Get(s.Base + "/v1/backbones:inspect?path=" + backboneDir)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 503 && strings.Contains(string(b), "max-concurrent-submissions"):
			inspectBusy++
		case resp.StatusCode != 200:
			t.Errorf("inspect: %d %.300s", resp.StatusCode, b)
		}
	}
	close(stop)
	walkers.Wait()
	if inspectBusy == 0 {
		t.Error("no inspection was refused while two submissions were checked")
	}
}
