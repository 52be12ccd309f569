package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/graft-ml/graft/api"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func create(t *testing.T, s *Store, model string) *api.Job {
	t.Helper()
	j := &api.Job{Model: model, State: api.Queued}
	if err := s.CreateJob(j, func(j *api.Job) { j.RunDir = "/runs/" + j.ID }, api.JobEvent{Type: "queued"}); err != nil {
		t.Fatal(err)
	}
	return j
}

func ids(jobs []api.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// TestJobsAndEvents: ids from the counter, init sees the id, updates
// append numbered events, a failing update changes nothing, an unknown
// job is ErrNotFound.
func TestJobsAndEvents(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "graft.db"))
	defer s.Close()
	for range 3 {
		create(t, s, "m")
	}
	all, err := s.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"job-000001", "job-000002", "job-000003"}; !slices.Equal(ids(all), want) {
		t.Fatalf("jobs %v, want %v", ids(all), want)
	}
	if all[1].RunDir != "/runs/job-000002" || all[1].Format != api.Version {
		t.Errorf("job-000002: run dir %q (init sets it from the id), format %d", all[1].RunDir, all[1].Format)
	}
	j, evs, err := s.Update("job-000002", func(j *api.Job) ([]api.JobEvent, error) {
		j.State = api.Running
		return []api.JobEvent{{Type: "attempt"}, {Type: "step"}}, nil
	})
	if err != nil || j.State != api.Running || len(evs) != 2 || evs[0].Seq != 2 || evs[1].Seq != 3 || evs[0].Time.IsZero() {
		t.Fatalf("update: %+v %+v %v; want running, events 2 and 3 after the queued one", j, evs, err)
	}
	boom := errors.New("boom")
	if _, _, err := s.Update("job-000002", func(j *api.Job) ([]api.JobEvent, error) {
		j.State = api.Failed
		return []api.JobEvent{{Type: "x"}}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("a failing update: %v", err)
	}
	if j, _ := s.Job("job-000002"); j.State != api.Running {
		t.Errorf("a failing update changed the job: %s", j.State)
	}
	got, err := s.Events("job-000002", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range got {
		types = append(types, e.Type)
	}
	if want := []string{"queued", "attempt", "step"}; !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	if page, _ := s.Events("job-000002", 1, 1); len(page) != 1 || page[0].Seq != 2 {
		t.Errorf("events after 1, limit 1: %+v", page)
	}
	if _, err := s.Job("job-000009"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown job: %v", err)
	}
	if _, _, err := s.Update("job-000009", func(*api.Job) ([]api.JobEvent, error) { return nil, nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("updating an unknown job: %v", err)
	}
}

// TestReopenAndCounters: what was written is there after a close; the
// store keeps its identity; a deleted job's id and a deleted model
// version are never issued again.
func TestReopenAndCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graft.db")
	s := open(t, path)
	id := s.ID()
	for range 2 {
		j := create(t, s, "digits")
		if _, _, err := s.Succeed(j.ID, []string{"a", "b"}, func(j *api.Job) {}, api.JobEvent{Type: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteJob("job-000002"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteModelVersion("digits", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	if s.ID() != id {
		t.Errorf("identity %s after reopening, was %s", s.ID(), id)
	}
	j1, err := s.Job("job-000001")
	if err != nil || j1.State != api.Succeeded || j1.Version != 1 || j1.Model != "digits" {
		t.Fatalf("job-000001 after reopening: %+v, %v", j1, err)
	}
	if _, err := s.Job("job-000002"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted job: %v", err)
	}
	if evs, _ := s.Events("job-000002", 0, 10); len(evs) != 0 {
		t.Errorf("a deleted job's events: %+v", evs)
	}
	j3 := create(t, s, "digits")
	if j3.ID != "job-000003" {
		t.Errorf("the next job is %s, want job-000003 (job-000002 was issued)", j3.ID)
	}
	j3, _, err = s.Succeed(j3.ID, []string{"a", "b"}, func(j *api.Job) {})
	if err != nil || j3.Version != 3 {
		t.Errorf("the next version is %d (%v), want 3 (2 was issued)", j3.Version, err)
	}
	latest, err := s.Model("digits", 0)
	if err != nil || latest.Version != 3 || latest.JobID != "job-000003" || !slices.Equal(latest.Classes, []string{"a", "b"}) {
		t.Errorf("latest digits: %+v, %v", latest, err)
	}
	if _, err := s.Model("digits", 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted version: %v", err)
	}
	ms, err := s.Models()
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].Version != 3 {
		t.Errorf("models %+v, %v; want digits 1 and 3", ms, err)
	}
}

// rawPut writes a value into the bbolt file directly, behind the store.
func rawPut(t *testing.T, path, bucket, key string, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptAndNewerRecords: a record that is not JSON, or one written
// by a newer graft, is an error when read, never a zero job; a listing
// that must read it fails, Select leaves it out.
func TestCorruptAndNewerRecords(t *testing.T) {
	for _, c := range []struct {
		name, value, want string
	}{
		{"not json", "{not json", "invalid character"},
		{"newer", `{"id":"job-000002","state":"queued","format":99}`, "version 99"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "graft.db")
			s := open(t, path)
			create(t, s, "m")
			s.Close()
			rawPut(t, path, "jobs", "job-000002", []byte(c.value))
			s = open(t, path)
			defer s.Close()
			if _, err := s.Job("job-000002"); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("reading it: %v, want an error saying %q", err, c.want)
			}
			if _, err := s.Jobs(); err == nil {
				t.Error("listing every job read it without an error")
			}
			sel, err := s.Select(func(*api.Job, bool) bool { return true })
			if err != nil || len(sel) != 1 || sel[0].ID != "job-000001" {
				t.Errorf("Select: %v, %v; want job-000001 alone", sel, err)
			}
		})
	}
}

// TestRefusedFiles: a file that is no bbolt database, and a store of a
// newer format, are refused with what to do and left as they were; a
// second open of a store in use is ErrLocked.
func TestRefusedFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	garbage := bytes.Repeat([]byte("not a database "), 512)
	if err := os.WriteFile(junk, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(junk); err == nil || !strings.Contains(err.Error(), "Move it aside") {
		t.Errorf("a file that is no database: %v, want one that says to move it aside", err)
	}
	if b, _ := os.ReadFile(junk); !bytes.Equal(b, garbage) {
		t.Error("opening a file that is no database changed it")
	}

	newer := filepath.Join(dir, "newer.db")
	s := open(t, newer)
	s.Close()
	rawPut(t, newer, "meta", "format", []byte("2"))
	if _, err := Open(newer); !errors.Is(err, ErrNewer) {
		t.Errorf("a store of format 2: %v, want ErrNewer", err)
	}

	used := filepath.Join(dir, "used.db")
	s = open(t, used)
	defer s.Close()
	if _, err := Open(used); !errors.Is(err, ErrLocked) {
		t.Errorf("a store in use: %v, want ErrLocked", err)
	}
}

// TestJobsPage: pages in id order, either way, filtered by state, with
// the cursor of the next page.
func TestJobsPage(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "graft.db"))
	defer s.Close()
	for i := range 5 {
		j := create(t, s, "m")
		if i%2 == 1 {
			if _, _, err := s.Update(j.ID, func(j *api.Job) ([]api.JobEvent, error) { j.State = api.Running; return nil, nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	same := func(j *api.Job) api.Job { return *j }
	for _, c := range []struct {
		name     string
		page     JobPage
		want     []string
		wantNext string
	}{
		{"first", JobPage{Limit: 2}, []string{"job-000001", "job-000002"}, "job-000002"},
		{"second", JobPage{After: "job-000002", Limit: 2}, []string{"job-000003", "job-000004"}, "job-000004"},
		{"last", JobPage{After: "job-000004", Limit: 2}, []string{"job-000005"}, ""},
		{"newest", JobPage{Limit: 2, Newest: true}, []string{"job-000005", "job-000004"}, "job-000004"},
		{"newest after", JobPage{After: "job-000004", Limit: 5, Newest: true}, []string{"job-000003", "job-000002", "job-000001"}, ""},
		{"running", JobPage{Limit: 5, State: api.Running}, []string{"job-000002", "job-000004"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, next, err := s.JobsPage(c.page, same)
			if err != nil || !slices.Equal(ids(got), c.want) || next != c.wantNext {
				t.Errorf("%+v: %v next %q (%v); want %v next %q", c.page, ids(got), next, err, c.want, c.wantNext)
			}
		})
	}
}
