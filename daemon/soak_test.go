package daemon_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon/store"
)

// soakSample is one look at the daemon during the soak.
type soakSample struct {
	at    time.Duration
	rss   int64 // bytes
	fds   int
	cache int64 // bytes of feature cache entries on disk
}

// dirBytes sums the regular files under dir whose names pass keep.
func dirBytes(dir string, keep func(name string) bool) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && keep(d.Name()) {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}

// TestSoak is `make soak` (GRAFT_SOAK=1; GRAFT_SOAK_SECONDS, 150 by
// default): a real graft serve under hundreds of tiny jobs submitted,
// cancelled, deleted and submitted again, on nine backbone taps and
// preprocessings whose features together are about six times the
// feature cache's cap, with predictions and event streams alongside.
// Asserted: the cache stays under its cap plus the leased features of the
// jobs that may run at once; RSS and open files stay flat (their slopes
// are reported); at the end no orphaned run directory, log, export or
// temporary file, bbolt's consistency check is clean, and every job's
// record, run directory and model agree. The figures go to the log and,
// with GRAFT_SOAK_REPORT, to a Markdown file.
func TestSoak(t *testing.T) {
	if os.Getenv("GRAFT_SOAK") == "" {
		t.Skip("the soak test runs with GRAFT_SOAK=1 (make soak)")
	}
	dur := 150 * time.Second
	if s, err := strconv.Atoi(os.Getenv("GRAFT_SOAK_SECONDS")); err == nil && s > 0 {
		dur = time.Duration(s) * time.Second
	}
	const (
		cacheCap = 2 << 20 // the nine feature sets of 50 digits take 13 MiB
		parallel = 2       // --max-concurrent-jobs: each may lease its features
		// The largest feature set (conv2d, 28x28x16 floats a digit, 50
		// digits) with room for the cache's file headers: a running job's
		// leased features may stand over the cap.
		leased = 50 * 28 * 28 * 16 * 4 * 11 / 10
	)
	f := newFixture(t, 5)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	d := startDaemon(t, addr, dataDir, f, "--max-concurrent-jobs", strconv.Itoa(parallel),
		"--cache-max-bytes", strconv.Itoa(cacheCap), "--log-level", "error", "--max-concurrent-submissions", "8")
	pid := d.cmd.Process.Pid
	c := client.New(addr, "")
	ctx := context.Background()

	// A model that stays, for the predictions.
	keep := f.spec(1)
	keep.Model = "soak"
	kj, err := c.Submit(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	if kj = waitFinal(t, c, kj.ID); kj.State != api.Succeeded {
		t.Fatalf("the kept model's job: %s %s", kj.State, kj.Error)
	}
	img := digitImages(t, f, 1)

	taps := []string{"conv2d", "conv2d_1", "conv2d_2"}
	modes := []string{"unit", "raw", "tf"}
	var (
		mu                                              sync.Mutex
		submitted, cancelled, deleted, busy, predictsOK int
		predictsFailed, streams                         int
		lastID                                          string
		problems                                        []string
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	// Four clients submitting, cancelling, deleting.
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 22))
			for time.Now().Before(end) {
				req := f.spec(1)
				req.Tap, req.Preprocess = taps[rng.IntN(len(taps))], modes[rng.IntN(len(modes))]
				if rng.IntN(2) == 0 {
					req.Model = fmt.Sprintf("soak-%d", w)
				}
				j, err := c.Submit(ctx, req)
				if err != nil {
					if code := apiStatus(err); code == 429 || code == 503 {
						mu.Lock()
						busy++
						mu.Unlock()
						time.Sleep(100 * time.Millisecond)
						continue
					}
					problem("submit: %v", err)
					continue
				}
				mu.Lock()
				submitted++
				lastID = j.ID
				mu.Unlock()
				models := rng.IntN(2) == 0
				switch rng.IntN(4) {
				case 0: // cancelled on its way, then deleted
					time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
					if _, err := c.Cancel(ctx, j.ID); err != nil && apiStatus(err) != 409 {
						problem("cancel %s: %v", j.ID, err)
					}
					if err := awaitFinal(c, j.ID); err != nil {
						problem("%v", err)
					}
					mu.Lock()
					cancelled++
					mu.Unlock()
				case 1: // deleted at once, cancelled by the delete
					models = true
				default: // run to the end
					if err := awaitFinal(c, j.ID); err != nil {
						problem("%v", err)
					}
				}
				if _, err := c.DeleteJob(ctx, j.ID, true, models); err != nil {
					problem("delete %s: %v", j.ID, err)
					continue
				}
				mu.Lock()
				deleted++
				mu.Unlock()
			}
		}()
	}
	// Predictions of the kept model, and event streams of recent jobs.
	for range 2 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				_, err := c.Predict(ctx, "soak", 0, api.PredictRequest{Instances: img})
				mu.Lock()
				if err == nil {
					predictsOK++
				} else {
					predictsFailed++
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				mu.Lock()
				id := lastID
				mu.Unlock()
				if id == "" {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				c.Events(sctx, id, 0, true, func(api.JobEvent) error { return nil })
				cancel()
				mu.Lock()
				streams++
				mu.Unlock()
			}
		}()
	}
	// A look every 2 s.
	var samples []soakSample
	cacheDir := filepath.Join(dataDir, "cache")
	start := time.Now()
	for time.Now().Before(end) {
		rss, fds := procStats(t, pid)
		entries := dirBytes(cacheDir, func(name string) bool { return !strings.HasPrefix(name, ".") })
		samples = append(samples, soakSample{time.Since(start), rss, fds, entries})
		time.Sleep(2 * time.Second)
	}
	wg.Wait()
	time.Sleep(3 * time.Second) // deletions' last files, idle connections
	rss, fds := procStats(t, pid)
	samples = append(samples, soakSample{time.Since(start), rss, fds, dirBytes(cacheDir, func(name string) bool { return !strings.HasPrefix(name, ".") })})

	for _, p := range problems {
		t.Error(p)
	}
	// Flat: slopes over the samples after the first quarter (warm-up).
	var xs, rs, fs []float64
	var maxCache int64
	for i, s := range samples {
		maxCache = max(maxCache, s.cache)
		if i >= len(samples)/4 {
			xs = append(xs, s.at.Minutes())
			rs = append(rs, float64(s.rss)/(1<<20))
			fs = append(fs, float64(s.fds))
		}
	}
	rssSlope, fdSlope := slope(xs, rs), slope(xs, fs)
	first, last := samples[len(samples)/4], samples[len(samples)-1]
	if maxCache > cacheCap+parallel*leased {
		t.Errorf("the feature cache held %d bytes, over its cap %d plus %d jobs' leased features (%d)", maxCache, cacheCap, parallel, parallel*leased)
	}
	if last.fds > first.fds+8 {
		t.Errorf("open files grew from %d to %d", first.fds, last.fds)
	}
	if rssSlope > 20 {
		t.Errorf("RSS grew %.1f MiB a minute after the warm-up", rssSlope)
	}

	// Stop it, then check what it left.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.wait(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	agree := soakAgree(t, dataDir)

	report := fmt.Sprintf(`| figure | value |
|---|---|
| duration | %v |
| jobs submitted / cancelled / deleted | %d / %d / %d |
| submissions answered 429 or 503 (queue full, checks busy) | %d |
| predictions ok / failed | %d / %d |
| event streams followed | %d |
| feature cache: cap, largest seen | %d KiB, %d KiB (cap + %d leased sets of at most %d KiB allowed) |
| daemon RSS after warm-up, at the end; slope | %d MiB, %d MiB; %+.2f MiB/min |
| daemon open files after warm-up, at the end; slope | %d, %d; %+.2f /min |
| at the end | %s |
`, dur, submitted, cancelled, deleted, busy, predictsOK, predictsFailed, streams,
		cacheCap>>10, maxCache>>10, parallel, leased>>10,
		first.rss>>20, last.rss>>20, rssSlope, first.fds, last.fds, fdSlope, agree)
	t.Log("\n" + report)
	if out := os.Getenv("GRAFT_SOAK_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	if predictsFailed > 0 {
		t.Errorf("%d predictions of the kept model failed", predictsFailed)
	}
}

// awaitFinal is waitFinal for goroutines other than the test's: an error
// instead of t.Fatal.
func awaitFinal(c *client.Client, id string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if j, err := c.Job(context.Background(), id); err == nil && j.State.Final() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("job %s has not ended after 2 minutes", id)
}

// soakAgree checks a stopped daemon's data directory: bbolt's own
// consistency check, every job's record against its run directory and
// log, every model against its job or kept run, and nothing on disk that
// no record names (runs, logs, exports, temporary files). It returns a
// one-line summary.
func soakAgree(t *testing.T, dataDir string) string {
	t.Helper()
	dbPath := filepath.Join(dataDir, "graft.db")
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkErrs := 0
	db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
			checkErrs++
		}
		return nil
	})
	db.Close()
	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jobs, err := st.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	models, err := st.Models()
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{} // paths a record names
	for _, j := range jobs {
		if !j.State.Final() {
			t.Errorf("job %s is %s after the daemon stopped with nothing to run", j.ID, j.State)
		}
		named[filepath.Join(dataDir, "logs", j.ID+".log")] = true
		named[filepath.Join(dataDir, "logs", j.ID+".log.1")] = true
		if j.RunDir != "" {
			named[j.RunDir] = true
		}
		if j.State == api.Succeeded {
			if _, err := os.Stat(filepath.Join(j.RunDir, "config.json")); err != nil {
				t.Errorf("succeeded job %s: its run: %v", j.ID, err)
			}
		}
	}
	for _, m := range models {
		named[m.RunDir] = true
		named[filepath.Join(dataDir, "exports", m.Name, strconv.Itoa(m.Version))] = true
		named[filepath.Join(dataDir, "exports", m.Name, strconv.Itoa(m.Version)+".manifest.json")] = true
		if _, err := os.Stat(filepath.Join(m.RunDir, "config.json")); err != nil {
			t.Errorf("model %s version %d: its run: %v", m.Name, m.Version, err)
		}
	}
	orphans := 0
	for _, pattern := range []string{"runs/*", "logs/*", "exports/*/*"} {
		ps, _ := filepath.Glob(filepath.Join(dataDir, pattern))
		for _, p := range ps {
			if !named[p] {
				t.Errorf("orphaned: %s (no job or model names it)", p)
				orphans++
			}
		}
	}
	temps := tmpLeftovers(t, dataDir)
	for _, p := range temps {
		t.Errorf("temporary file left: %s", p)
	}
	return fmt.Sprintf("%d jobs, %d model versions; bbolt check %d errors; %d orphans; %d temporary files", len(jobs), len(models), checkErrs, orphans, len(temps))
}
