package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/daemon/store"
)

// copyFile copies src to dst (0600, as the daemon keeps its store).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// boltRecords opens a store with bbolt itself (read-only), runs its
// consistency check, and returns every key and value and every bucket's
// sequence, by path.
func boltRecords(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("%s: bbolt check: %v", path, err)
		}
		var walk func(prefix string, b *bolt.Bucket) error
		walk = func(prefix string, b *bolt.Bucket) error {
			out[prefix+"#seq"] = fmt.Sprint(b.Sequence())
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return walk(prefix+"/"+string(k), b.Bucket(k))
				}
				out[prefix+"/"+string(k)] = string(v)
				return nil
			})
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A store written before stores carried a format version (testdata/store)
// is read by this daemon: every job answers as the daemon that wrote it
// answered, the model is listed, and the store now says format 1.
func TestStoreV1FixtureRead(t *testing.T) {
	var want []api.Job
	b, err := os.ReadFile("../testdata/store/v1.jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	copyFile(t, "../testdata/store/v1.db", filepath.Join(dataDir, "graft.db"))
	if _, ok := boltRecords(t, filepath.Join(dataDir, "graft.db"))["meta/format"]; ok {
		t.Fatal("the fixture has a format key: it is not a store of before the format version")
	}
	s := startServer(t, daemon.Options{DataDir: dataDir, AllowRoots: []string{t.TempDir()}})
	ctx := context.Background()
	for _, w := range want {
		got, err := s.Job(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, w) {
			g, _ := json.Marshal(got)
			ww, _ := json.Marshal(w)
			t.Errorf("job %s now:\n%s\nas written:\n%s", w.ID, g, ww)
		}
	}
	list, err := s.Jobs(ctx)
	if err != nil || len(list) != len(want) {
		t.Fatalf("%d jobs listed (err %v), the store holds %d", len(list), err, len(want))
	}
	ms, err := s.Models(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "digits" || ms[0].Version != 1 || ms[0].JobID != "job-000001" {
		t.Errorf("models %+v, err %v", ms, err)
	}
	s.stop()
	if f := boltRecords(t, filepath.Join(dataDir, "graft.db"))["meta/format"]; f != "1" {
		t.Errorf("meta/format is %q after a start, want 1", f)
	}
}

// A store of a newer format than this graft knows is refused at start,
// saying what to do, and left as it was.
func TestStoreNewerFormatRefused(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dataDir, "graft.db")
	copyFile(t, "../testdata/store/v1.db", db)
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte(fmt.Sprint(store.Format+1)))
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(db)
	out, err := exec.Command(graftBin, "serve", "--listen", freeAddr(t), "--data-dir", dataDir, "--allow-root", t.TempDir()).CombinedOutput()
	if err == nil {
		t.Fatalf("graft serve started on a newer store:\n%s", out)
	}
	for _, want := range []string{"written by a newer graft", fmt.Sprintf("store format %d", store.Format+1), "use that graft or newer"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("graft serve's error does not say %q:\n%s", want, out)
		}
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Error("graft serve changed the newer store it refused")
	}
	if _, _, err := store.Compact(db); !errors.Is(err, store.ErrNewer) {
		t.Errorf("compacting a newer store: %v", err)
	}
}

// A backup taken through the API while a job runs is a sound bbolt file
// (its own check clean) holding every job as it was; graft admin backup
// writes the same; a daemon started from it lists the jobs and the model.
func TestBackupWhileJobRunsAndRestore(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "tok", WorkerArgs: []string{"--step-delay", "50ms"}})
	ctx := context.Background()
	done, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	waitFinal(t, s.Client, done.ID)
	running, err := s.Submit(ctx, f.spec(200))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.Client, running.ID, 60*time.Second, "training", func(j *api.Job) bool { return j.Progress.Step > 0 })

	dir := t.TempDir()
	api1 := filepath.Join(dir, "api.db")
	if err := s.Backup(ctx, api1, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, api1, false); err == nil || !errors.Is(err, os.ErrExist) {
		t.Errorf("a second backup over the first without overwrite: %v", err)
	}
	cli := filepath.Join(dir, "cli.db")
	cmd := exec.Command(graftBin, "admin", "backup", "--server", strings.TrimPrefix(s.Base, "http://"), cli)
	cmd.Env = append(os.Environ(), "GRAFT_TOKEN=tok")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("graft admin backup: %v\n%s", err, out)
	}
	noTok := exec.Command(graftBin, "admin", "backup", "--server", s.Base, filepath.Join(dir, "notok.db"))
	noTok.Env = append(os.Environ(), "GRAFT_TOKEN=")
	if out, err := noTok.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("graft admin backup without the token: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "notok.db")); err == nil {
		t.Error("a refused backup left a file")
	}
	for _, b := range []string{api1, cli} {
		fi, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 like the store", b, fi.Mode().Perm())
		}
		recs := boltRecords(t, b) // bbolt's check runs here
		for id, state := range map[string]api.State{done.ID: api.Succeeded, running.ID: api.Running} {
			var j api.Job
			if err := json.Unmarshal([]byte(recs["jobs/"+id]), &j); err != nil || j.State != state {
				t.Errorf("%s: job %s: %q (%v), want %s", b, id, j.State, err, state)
			}
		}
	}
	// A job submitted after the backup: the restored store does not
	// know it, its run stays and its id is not reused.
	later, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	waitFinal(t, s.Client, running.ID)
	waitFinal(t, s.Client, later.ID)
	s.stop()

	// Restore as docs/operations.md says: the daemon stopped, the copy
	// put in place of DATA/graft.db, the daemon started. The job running
	// at the backup is queued again and resumes its run.
	copyFile(t, api1, filepath.Join(s.dir, "graft.db"))
	r := startServer(t, daemon.Options{DataDir: s.dir, AllowRoots: f.roots})
	jobs, err := r.Jobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].ID != done.ID || jobs[0].State != api.Succeeded || jobs[1].ID != running.ID {
		t.Fatalf("restored jobs %+v, err %v", jobs, err)
	}
	if ms, err := r.Models(ctx); err != nil || len(ms) != 1 || ms[0].JobID != done.ID {
		t.Errorf("restored models %+v, err %v", ms, err)
	}
	if j := waitFinal(t, r.Client, running.ID); j.State != api.Succeeded {
		t.Errorf("the job running at the backup: %s (%s) after the restore", j.State, j.Error)
	}
	next, err := r.Submit(ctx, f.spec(1))
	if err != nil || next.ID == later.ID {
		t.Errorf("a job after the restore: %+v, err %v (%s's run is on disk)", next, err, later.ID)
	}
}

// bloatedStore writes a store of n ended jobs with many events each, then
// deletes all but keep of them (record and events) with bbolt: what a
// daemon's deletions leave, free pages.
func bloatedStore(t *testing.T, path string, n, keep int) {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("x", 4000)
	var ids []string
	for i := 0; i < n; i++ {
		evs := make([]api.JobEvent, 20)
		for k := range evs {
			evs[k] = api.JobEvent{Type: "log", Message: msg}
		}
		j := &api.Job{State: api.Failed, Model: "m", Error: "made by the test"}
		if err := st.CreateJob(j, nil, evs...); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	st.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids[keep:] {
			if err := tx.Bucket([]byte("jobs")).Delete([]byte(id)); err != nil {
				return err
			}
			if err := tx.Bucket([]byte("events")).DeleteBucket([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// graft admin compact shrinks a store with many deleted records and keeps
// every record and counter; it refuses while a daemon holds the store.
func TestAdminCompact(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	db := filepath.Join(dataDir, "graft.db")
	bloatedStore(t, db, 120, 10) // about 10 MiB: under the start's threshold
	want, before := boltRecords(t, db), fileSize(t, db)

	s := startServer(t, daemon.Options{DataDir: dataDir, AllowRoots: []string{t.TempDir()}})
	if fileSize(t, db) != before {
		t.Fatal("the daemon compacted a store under its threshold at start")
	}
	out, err := exec.Command(graftBin, "admin", "compact", "--data-dir", dataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another graft serve") || !strings.Contains(string(out), "stop it first") {
		t.Errorf("graft admin compact while the daemon runs: %v\n%s", err, out)
	}
	s.stop()
	want = boltRecords(t, db) // as the daemon left it (it writes the format key)

	out, err = exec.Command(graftBin, "admin", "compact", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("graft admin compact: %v\n%s", err, out)
	}
	after := fileSize(t, db)
	if after*4 > before {
		t.Errorf("compacted from %d to %d bytes: 110 of 120 jobs were deleted", before, after)
	}
	if got := boltRecords(t, db); !reflect.DeepEqual(got, want) {
		t.Errorf("the compacted store holds %d records and counters, %d before; differing or missing: %v", len(got), len(want), diffKeys(got, want))
	}
	if m, _ := filepath.Glob(filepath.Join(dataDir, ".graft.db.tmp-*")); len(m) > 0 {
		t.Errorf("compaction left %v", m)
	}
	t.Logf("graft admin compact: %d -> %d bytes", before, after)
}

// At start a store over half free pages (and at least 16 MiB of them) is
// compacted, its records and counters kept, and what a compaction a crash
// cut short left beside it is removed.
func TestStartCompacts(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	db := filepath.Join(dataDir, "graft.db")
	bloatedStore(t, db, 300, 5) // about 25 MiB, nearly all free
	want, before := boltRecords(t, db), fileSize(t, db)
	leftover := filepath.Join(dataDir, ".graft.db.tmp-compact-1") // a compaction a crash cut short
	if err := os.WriteFile(leftover, []byte("half a store"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, daemon.Options{DataDir: dataDir, AllowRoots: []string{t.TempDir()}})
	if after := fileSize(t, db); after*4 > before {
		t.Errorf("the store is %d bytes after the start, %d before", after, before)
	}
	if exists(t, leftover) {
		t.Error("the start left a cut-short compaction's file")
	}
	jobs, err := s.Jobs(context.Background())
	if err != nil || len(jobs) != 5 {
		t.Fatalf("%d jobs after the compaction (err %v), want 5", len(jobs), err)
	}
	s.stop()
	got := boltRecords(t, db)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records and counters differ after the start's compaction: %v", diffKeys(got, want))
	}
	if got["jobs#seq"] != "300" {
		t.Errorf("the job counter is %s, want 300", got["jobs#seq"])
	}
}

func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	if len(out) > 10 {
		out = out[:10]
	}
	return out
}
