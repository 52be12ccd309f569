package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
)

// procStats reads a process's resident memory (bytes) and open files.
func procStats(t *testing.T, pid int) (rss int64, fds int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			rss = kb << 10
		}
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return rss, len(ents)
}

// codes counts answers by status (0: no answer).
type codes struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *codes) add(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int]int{}
	}
	c.n[code]++
}

// check fails t for answers outside ok, and returns the counts as text.
func (c *codes) check(t *testing.T, what string, ok ...int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for code, n := range c.n {
		parts = append(parts, fmt.Sprintf("%d:%d", code, n))
		if !slices.Contains(ok, code) {
			t.Errorf("%s: %d answers with status %d (0: none)", what, n, code)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// TestLoad is `make load-daemon` (GRAFT_LOAD=1): a real graft serve on the
// loopback under 200 concurrent single-image predicts for 20 s while 50
// event streams are open and 100 jobs are submitted in a burst. Every
// request must be answered with 2xx or a documented 4xx/429/503, and the
// daemon's open files must come back to their starting level; the numbers
// (rates, latencies, memory) are printed, not asserted.
func TestLoad(t *testing.T) {
	if os.Getenv("GRAFT_LOAD") == "" {
		t.Skip("the load test runs with GRAFT_LOAD=1 (make load-daemon)")
	}
	f := newFixture(t, 5)
	addr, dataDir := freeAddr(t), filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, addr, dataDir, f, "--max-connections", "400", "--max-event-streams", "64", "--log-level", "error")
	pid := d.cmd.Process.Pid
	tr := &http.Transport{MaxIdleConnsPerHost: 300, MaxConnsPerHost: 300}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	c := client.New(addr, "")
	c.HTTP = hc
	ctx := context.Background()
	req := f.spec(1)
	req.Model = "digits"
	j, err := c.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, c, j.ID); j.State != api.Succeeded {
		t.Fatalf("model job: %s %s", j.State, j.Error)
	}
	img := digitImages(t, f, 1)
	if _, err := c.Predict(ctx, "digits", 0, api.PredictRequest{Instances: img}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	rss0, fds0 := procStats(t, pid)

	var predicts, submits, streams codes
	var latMu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	stop := time.Now().Add(20 * time.Second)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t0 := time.Now()
				_, err := c.Predict(ctx, "digits", 0, api.PredictRequest{Instances: img})
				code := 200
				if err != nil {
					code = apiStatus(err)
				}
				predicts.add(code)
				latMu.Lock()
				lats = append(lats, time.Since(t0))
				latMu.Unlock()
				if code == 503 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	// 50 event streams, open until the end.
	sctx, closeStreams := context.WithCancel(ctx)
	var swg sync.WaitGroup
	for range 50 {
		swg.Add(1)
		go func() {
			defer swg.Done()
			r, _ := http.NewRequestWithContext(sctx, "GET", c.Base+"/v1/jobs/"+j.ID+"/events?follow=true", nil)
			resp, err := (&http.Client{}).Do(r)
			if err != nil {
				streams.add(0)
				return
			}
			streams.add(resp.StatusCode)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	time.Sleep(2 * time.Second)
	var ids []string
	var idMu sync.Mutex
	var bwg sync.WaitGroup
	for range 100 {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			sj, err := c.Submit(ctx, f.spec(1))
			if err != nil {
				submits.add(apiStatus(err))
				return
			}
			submits.add(201)
			idMu.Lock()
			ids = append(ids, sj.ID)
			idMu.Unlock()
		}()
	}
	bwg.Wait()
	wg.Wait()
	closeStreams()
	swg.Wait()
	for _, id := range ids {
		c.Cancel(ctx, id)
	}
	for _, id := range ids {
		waitFinal(t, c, id)
	}
	tr.CloseIdleConnections()
	time.Sleep(3 * time.Second)
	rss1, fds1 := procStats(t, pid)

	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[int(p*float64(len(lats)-1))] }
	t.Logf("predicts: %d in 20 s (%.0f/s), p50 %v, p99 %v; answers %s", len(lats), float64(len(lats))/20, pct(0.5), pct(0.99), predicts.check(t, "predict", 200, 503))
	t.Logf("streams: %s; submissions: %s", streams.check(t, "stream", 200), submits.check(t, "submit", 201, 429, 503))
	t.Logf("daemon: RSS %d MiB -> %d MiB, open files %d -> %d", rss0>>20, rss1>>20, fds0, fds1)
	if fds1 > fds0+2 {
		t.Errorf("the daemon holds %d open files after the load, %d before", fds1, fds0)
	}
}
