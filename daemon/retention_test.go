package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
)

// stillThere waits a few seconds for paths to go, and returns the first
// still there ("" when none): a removed job's record goes first, then its
// files (as DELETE /v1/jobs/ID does).
func stillThere(t *testing.T, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		for i := 0; exists(t, p) && i < 250; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if exists(t, p) {
			return p
		}
	}
	return ""
}

// waitGone polls until job id answers 404.
func waitGone(t *testing.T, c *client.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Job(context.Background(), id)
		if apiStatus(err) == http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still there (err %v)", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Retention: a cancelled job past its retention goes (record, events, run
// directory, log); a failed one within its retention stays; a succeeded
// one stays while its model version is registered and goes, with the
// version's export, once the version is deleted. Ids are never reused.
func TestRetention(t *testing.T) {
	f := newFixture(t, 5)
	other := t.TempDir()
	if err := exec.Command("cp", "-r", f.data, other).Run(); err != nil {
		t.Fatal(err)
	}
	doomed := filepath.Join(other, filepath.Base(f.data))
	o := daemon.Options{AllowRoots: append(f.roots, other), MaxAttempts: 1, WorkerArgs: []string{"--step-delay", "20ms"},
		RetainFailed: time.Hour, RetainCancelled: time.Millisecond, RetainSucceeded: time.Millisecond, HousekeepingInterval: 50 * time.Millisecond}
	s := startServer(t, o)
	ctx := context.Background()
	req := f.spec(1)
	req.Model = "keep"
	a, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a = waitFinal(t, s.Client, a.ID); a.State != api.Succeeded {
		t.Fatalf("a: %s %s", a.State, a.Error)
	}
	if err := s.Export(ctx, "keep", 1, filepath.Join(t.TempDir(), "keep.tar"), false); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(s.dir, "exports", "keep", "1")
	if !exists(t, export) || !exists(t, export+".manifest.json") {
		t.Fatal("no export kept under exports/keep/1")
	}
	b, err := s.Submit(ctx, f.spec(500))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.Client, b.ID, 60*time.Second, "running", func(j *api.Job) bool { return j.State == api.Running })
	rc := f.spec(1)
	rc.Data = doomed
	c, err := s.Submit(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(doomed) // c fails when it runs
	if _, err := s.Cancel(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	waitGone(t, s.Client, b.ID)
	if p := stillThere(t, filepath.Join(s.dir, "runs", b.ID), filepath.Join(s.dir, "logs", b.ID+".log")); p != "" {
		t.Errorf("%s is still there after the cancelled job went", p)
	}
	if _, err := s.Events(ctx, b.ID, 0, false, func(api.JobEvent) error { return nil }); apiStatus(err) != http.StatusNotFound {
		t.Errorf("events of the removed job: %v", err)
	}
	if c = waitFinal(t, s.Client, c.ID); c.State != api.Failed {
		t.Fatalf("c: %s", c.State)
	}
	time.Sleep(200 * time.Millisecond) // four sweeps
	for _, id := range []string{a.ID, c.ID} {
		if _, err := s.Job(ctx, id); err != nil {
			t.Errorf("job %s: %v, want it kept", id, err)
		}
		if !exists(t, filepath.Join(s.dir, "logs", id+".log")) {
			t.Errorf("job %s's log is gone", id)
		}
	}
	if !exists(t, a.RunDir) || !exists(t, export) {
		t.Error("the succeeded job's run or export went while its version is registered")
	}
	s.stop()

	// The version deleted (as DELETE .../versions/1 does): the job and the
	// version's export go at the next start's sweep.
	db, err := bolt.Open(filepath.Join(s.dir, "graft.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("models")).Bucket([]byte("keep")).Delete([]byte{0, 0, 0, 0, 0, 0, 0, 1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	o.DataDir = s.dir
	s = startServer(t, o)
	waitGone(t, s.Client, a.ID)
	if p := stillThere(t, a.RunDir, export, export+".manifest.json", filepath.Join(s.dir, "logs", a.ID+".log")); p != "" {
		t.Errorf("%s is still there after the succeeded job went", p)
	}
	if _, err := s.Job(ctx, c.ID); err != nil {
		t.Errorf("the failed job within its retention: %v", err)
	}
	d, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "job-000004" {
		t.Errorf("a new job after three, two removed, is %s", d.ID)
	}
}

// filesBytes is what `find DIR -type f` counts: the size of every
// regular file under dir.
func filesBytes(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("find", dir, "-type", "f", "-printf", "%s\n").Output()
	if err != nil && exists(t, dir) {
		t.Fatal(err)
	}
	var n int64
	for _, l := range strings.Fields(string(out)) {
		k, _ := strconv.ParseInt(l, 10, 64)
		n += k
	}
	return n
}

// GET /v1/status and /metrics report the data directory by part as find
// counts it, the jobs by state, and the disk's free space and minimum.
func TestStatusDiskUsage(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, HousekeepingInterval: 50 * time.Millisecond})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	waitFinal(t, s.Client, j.ID)
	want := map[string]int64{}
	for _, p := range []string{"runs", "cache", "logs", "exports"} {
		want[p] = filesBytes(t, filepath.Join(s.dir, p))
	}
	want["store"] = fileSize(t, filepath.Join(s.dir, "graft.db"))
	if want["runs"] == 0 || want["cache"] == 0 || want["logs"] == 0 {
		t.Fatalf("a job ran but find counts %v", want)
	}
	var st *api.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err = s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for p, n := range want {
			same = same && st.Disk.Parts[p] == n
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status parts %v, find counts %v", st.Disk.Parts, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Jobs[api.Succeeded] != 1 || len(st.Jobs) != len(api.States) || st.Version == "" || st.UptimeSeconds <= 0 {
		t.Errorf("status %+v", st)
	}
	if st.Disk.Free <= 0 || st.Disk.MinFree != 64<<20 {
		t.Errorf("free %d, min free %d", st.Disk.Free, st.Disk.MinFree)
	}
	resp, err := http.Get(s.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for p, n := range want {
		if line := `graft_disk_usage_bytes{part="` + p + `"} ` + strconv.FormatInt(n, 10); !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics has no line %q", line)
		}
	}
	if !strings.Contains(string(body), "graft_disk_min_free_bytes 67108864\n") || !strings.Contains(string(body), "graft_disk_free_bytes ") {
		t.Error("/metrics has no free space gauges")
	}
}

// Under --min-free-disk, /readyz names the largest part of the data
// directory, as find counts it.
func TestReadyzNamesLargestPart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(dir, "exports", "big"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "exports", "big", "blob"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{DataDir: dir, AllowRoots: []string{t.TempDir()}, MinFreeDisk: 1 << 62, HousekeepingInterval: 50 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.Base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode == 503 && strings.Contains(e.Error, "largest part of the data directory is exports/") && strings.Contains(e.Error, strconv.Itoa(1<<20)+" bytes") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %d %s", resp.StatusCode, e.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Each job's worker log is bounded by --max-log-bytes: JOB.log and one
// rotated JOB.log.1 of at most half each, the newest output in JOB.log;
// GET .../log shows the rotated part, then the log.
func TestJobLogBounded(t *testing.T) {
	f := newFixture(t, 5)
	const max = 1 << 10
	// Workers log at the daemon's level: debug makes them talk.
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.DebugLevel))
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxLogBytes: max, Log: log})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(6))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("%s %s", j.State, j.Error)
	}
	logf := filepath.Join(s.dir, "logs", j.ID+".log")
	cur, rot := fileSize(t, logf), fileSize(t, logf+".1")
	if cur > max/2 || rot > max/2 || cur == 0 {
		t.Errorf("log %d bytes, rotated %d: each at most %d", cur, rot, max/2)
	}
	resp, err := http.Get(s.Base + "/v1/jobs/" + j.ID + "/log")
	if err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	older, _ := os.ReadFile(logf + ".1")
	newer, _ := os.ReadFile(logf)
	if resp.StatusCode != 200 || string(tail) != string(older)+string(newer) {
		t.Errorf("the job's log answer (%d, %d bytes) is not its rotated log then its log (%d and %d bytes)", resp.StatusCode, len(tail), len(older), len(newer))
	}
}

// graft serve's retention flags: by default a cancelled job is kept (7
// days) across a restart; started with --retain-cancelled 1ms, the start's
// sweep removes it and its run directory.
func TestRetentionFlags(t *testing.T) {
	f := newFixture(t, 5)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	d := startDaemon(t, addr, dataDir, f, "--worker-step-delay", "50ms")
	cl := client.New(addr, "")
	ctx := context.Background()
	j, err := cl.Submit(ctx, f.spec(200))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, cl, j.ID, 60*time.Second, "running", func(j *api.Job) bool { return j.State == api.Running })
	if _, err := cl.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	waitFinal(t, cl, j.ID)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	d = startDaemon(t, addr, dataDir, f)
	if _, err := cl.Job(ctx, j.ID); err != nil {
		t.Fatalf("a cancelled job after a restart with the default retention: %v", err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	startDaemon(t, addr, dataDir, f, "--retain-cancelled", "1ms")
	waitGone(t, cl, j.ID)
	if p := stillThere(t, filepath.Join(dataDir, "runs", j.ID)); p != "" {
		t.Error("the removed job's run directory is still there")
	}
}
