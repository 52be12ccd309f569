package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
)

// rawGet is the daemon's answer to a GET read without the client: the
// oracle of what the client reports.
func rawGet(t *testing.T, s *testServer, token, path string) (int, api.Error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

// TestClientErrors checks the client's typed errors against a real
// daemon's answers, read raw: every error answer is an *client.Error with
// the answer's status and message, a refused spec lists its fields and is
// errors.Is api.ErrSpec, and no daemon at all is client.ErrNoAnswer.
func TestClientErrors(t *testing.T) {
	const token = "client-test-token"
	s := startServer(t, daemon.Options{Token: token})
	ctx := context.Background()
	asError := func(t *testing.T, err error) *client.Error {
		t.Helper()
		var e *client.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T): not a *client.Error", err, err)
		}
		return e
	}

	t.Run("not found", func(t *testing.T) {
		_, err := s.Job(ctx, "no-such-job")
		e := asError(t, err)
		code, raw := rawGet(t, s, token, "/v1/jobs/no-such-job")
		if e.Status != code || code != http.StatusNotFound || e.Message != raw.Error {
			t.Fatalf("client: %d %q; the daemon answered %d %q", e.Status, e.Message, code, raw.Error)
		}
		if errors.Is(err, api.ErrSpec) || errors.Is(err, client.ErrNoAnswer) {
			t.Fatalf("a 404 is neither a spec error nor no answer: %v", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		_, err := client.New(s.Base, "wrong").Status(ctx)
		e := asError(t, err)
		code, raw := rawGet(t, s, "wrong", "/v1/status")
		if e.Status != code || code != http.StatusUnauthorized || e.Message != raw.Error {
			t.Fatalf("client: %d %q; the daemon answered %d %q", e.Status, e.Message, code, raw.Error)
		}
	})
	t.Run("invalid spec", func(t *testing.T) {
		_, err := s.Submit(ctx, api.JobRequest{JobSpec: api.JobSpec{Backbone: backboneDir, Data: t.TempDir(), Epochs: api.Ptr(0)}})
		e := asError(t, err)
		if e.Status != http.StatusBadRequest || !errors.Is(err, api.ErrSpec) {
			t.Fatalf("got %d, errors.Is(api.ErrSpec) %v: want 400, true (%v)", e.Status, errors.Is(err, api.ErrSpec), err)
		}
		fields := map[string]bool{}
		for _, f := range e.Fields {
			fields[f.Field] = true
		}
		if !fields["backbone"] {
			t.Errorf("field errors %+v: backbone missing", e.Fields)
		}
		// A device is parsed as the body is read: a bad one is a field
		// error all the same.
		_, err = s.SubmitRaw(ctx, []byte(`{"backbone": "/m", "tap": "t", "data": "/d", "device": "tpu"}`))
		e = asError(t, err)
		if e.Status != http.StatusBadRequest || len(e.Fields) != 1 || e.Fields[0].Field != "device" {
			t.Fatalf("device tpu: %d %+v, want 400 and a device field error", e.Status, e.Fields)
		}
	})
	t.Run("no daemon", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // a port nothing listens on
		c := client.New(addr, "")
		_, err = c.Jobs(ctx)
		if !errors.Is(err, client.ErrNoAnswer) {
			t.Fatalf("Jobs with no daemon: %v, not client.ErrNoAnswer", err)
		}
		var e *client.Error
		if errors.As(err, &e) {
			t.Fatalf("no answer is not an answer: %v", err)
		}
		if _, err := c.Events(ctx, "x", 0, false, func(api.JobEvent) error { return nil }); !errors.Is(err, client.ErrNoAnswer) {
			t.Fatalf("Events with no daemon: %v, not client.ErrNoAnswer", err)
		}
	})
	t.Run("download target exists", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "store.db")
		if err := os.WriteFile(dest, []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Backup(ctx, dest, false); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Backup onto an existing file: %v, not fs.ErrExist", err)
		}
		if b, _ := os.ReadFile(dest); string(b) != "mine" {
			t.Fatalf("the refused backup changed the file: %q", b)
		}
		if err := s.Backup(ctx, dest, true); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(dest); string(b) == "mine" || len(b) < 4096 {
			t.Fatalf("Backup with overwrite left %d bytes: not a bbolt file", len(b))
		}
		ents, _ := os.ReadDir(filepath.Dir(dest))
		if len(ents) != 1 {
			t.Fatalf("Backup left %d files beside the copy: %v", len(ents)-1, ents)
		}
	})
	t.Run("missing model export leaves nothing", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "m.tar")
		err := s.Export(ctx, "no-such-model", 0, dest, false)
		if e := asError(t, err); e.Status != http.StatusNotFound {
			t.Fatalf("export of a missing model: %d, want 404", e.Status)
		}
		if ents, _ := os.ReadDir(filepath.Dir(dest)); len(ents) != 0 {
			t.Fatalf("a refused export left %v", ents)
		}
	})
}

// TestClientJobRoundTrip submits a tiny job through the client, follows
// its events to the end and reads it back, checking each against the
// daemon's raw JSON answer.
func TestClientJobRoundTrip(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(2))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	last, err := s.Events(ctx, j.ID, 0, true, func(e api.JobEvent) error {
		kinds = append(kinds, string(e.Type))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.Succeeded {
		t.Fatalf("job %s: %s (%s), want succeeded", j.ID, got.State, got.Error)
	}
	if last == 0 || len(kinds) == 0 {
		t.Fatalf("events: last seq %d, %d events", last, len(kinds))
	}
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/v1/jobs/"+j.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw api.Job
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw.ID != got.ID || raw.State != got.State || raw.Spec.Epochs != 2 || got.Spec.Epochs != 2 || raw.Spec.Device != got.Spec.Device {
		t.Fatalf("client read %+v; the daemon answered %+v", got.Spec, raw.Spec)
	}
	jobs, err := s.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("Jobs: %v %v, want the one job %s", jobs, err, j.ID)
	}
}
