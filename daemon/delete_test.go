package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
)

// exists reports whether path is there, failing on any other error.
func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// deleteReq sends DELETE path and returns the status.
func deleteReq(t *testing.T, s *testServer, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.Base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func refs(rs ...api.VersionRef) []api.VersionRef { return append([]api.VersionRef{}, rs...) }

// Deleting jobs and model versions: 404 for what is not there, the files
// of what goes gone from the disk, "latest" moving down, a deleted job's
// kept version served from its run directory until the version goes, and
// neither job ids nor versions issued again after a restart.
func TestDeleteJobsAndModels(t *testing.T) {
	f := newFixture(t, 5)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, daemon.Options{DataDir: dataDir, AllowRoots: f.roots})
	ctx := context.Background()
	a, b, c := trainModel(t, s, f, "m"), trainModel(t, s, f, "m"), trainModel(t, s, f, "other")
	if a.Version != 1 || b.Version != 2 {
		t.Fatalf("versions %d, %d", a.Version, b.Version)
	}
	if err := s.Export(ctx, "m", 2, filepath.Join(t.TempDir(), "m.tar"), false); err != nil {
		t.Fatal(err)
	}
	export2 := filepath.Join(dataDir, "exports", "m", "2")
	if !exists(t, export2) || !exists(t, export2+".manifest.json") {
		t.Fatal("the export of m version 2 is not kept")
	}
	runs, logs := filepath.Join(dataDir, "runs"), filepath.Join(dataDir, "logs")

	for _, p := range []string{"/v1/jobs/job-999999", "/v1/models/nope", "/v1/models/m/versions/9", "/v1/models/m/versions/0"} {
		if code := deleteReq(t, s, p); code != http.StatusNotFound {
			t.Errorf("DELETE %s: %d, want 404", p, code)
		}
	}
	if code := deleteReq(t, s, "/v1/jobs/"+a.ID+"?cancel=maybe"); code != http.StatusBadRequest {
		t.Errorf("cancel=maybe: %d, want 400", code)
	}

	// A version: its export goes, latest moves to the newest left, its
	// job (and run) stay.
	d, err := s.DeleteModel(ctx, "m", 2)
	if err != nil || !reflect.DeepEqual(d.Models, refs(api.VersionRef{Name: "m", Version: 2})) {
		t.Fatalf("delete m/2: %+v, %v", d, err)
	}
	if exists(t, export2) || exists(t, export2+".manifest.json") {
		t.Error("the export of the deleted version is still on disk")
	}
	if m, err := s.Client.Models(ctx); err != nil || len(m) != 2 {
		t.Errorf("models after deleting m/2: %+v, %v", m, err)
	}
	if code := deleteReq(t, s, "/v1/models/m/versions/2"); code != http.StatusNotFound {
		t.Errorf("deleting m/2 again: %d, want 404", code)
	}
	latest := getModel(t, s, "m")
	if latest.Version != 1 || latest.JobID != a.ID {
		t.Errorf("latest of m after deleting version 2: %+v", latest)
	}
	if !exists(t, filepath.Join(runs, b.ID)) {
		t.Error("deleting a version removed the run of a job still there")
	}

	// A job without its versions: b's is gone already, so its run goes.
	if d, err = s.DeleteJob(ctx, b.ID, false, false); err != nil || d.Job != b.ID || len(d.Models) != 0 || len(d.Kept) != 0 {
		t.Fatalf("delete %s: %+v, %v", b.ID, d, err)
	}
	if exists(t, filepath.Join(runs, b.ID)) || exists(t, filepath.Join(logs, b.ID+".log")) {
		t.Errorf("%s: run directory or log still on disk", b.ID)
	}
	if _, err := s.Job(ctx, b.ID); apiStatus(err) != http.StatusNotFound {
		t.Errorf("GET a deleted job: %v", err)
	}
	if _, err := s.Events(ctx, b.ID, 0, false, func(api.JobEvent) error { return nil }); apiStatus(err) != http.StatusNotFound {
		t.Errorf("events of a deleted job: %v", err)
	}

	// A job whose version is kept: its run stays for the version, which
	// is still served, and goes with it.
	if d, err = s.DeleteJob(ctx, a.ID, false, false); err != nil || len(d.Models) != 0 || !reflect.DeepEqual(d.Kept, []api.VersionRef{{Name: "m", Version: 1}}) {
		t.Fatalf("delete %s: %+v, %v", a.ID, d, err)
	}
	if !exists(t, filepath.Join(runs, a.ID)) || exists(t, filepath.Join(logs, a.ID+".log")) {
		t.Errorf("%s: the run its kept version needs must stay, its log go", a.ID)
	}
	if p, err := s.Predict(ctx, "m", 0, api.PredictRequest{Instances: digitImages(t, f, 2)}); err != nil || len(p.Predictions) != 2 {
		t.Errorf("predict with a deleted job's kept version: %+v, %v", p, err)
	}
	// A restart keeps it served, and does not take it for a run the
	// store lost.
	s.stop()
	core, warnings := observer.New(zapcore.WarnLevel)
	s = startServer(t, daemon.Options{DataDir: dataDir, AllowRoots: f.roots, Log: zap.New(core)})
	for _, e := range warnings.All() {
		if strings.Contains(e.Message, "does not know") {
			t.Errorf("a start warns about the run a kept version uses: %s %v", e.Message, e.ContextMap())
		}
	}
	if p, err := s.Predict(ctx, "m", 1, api.PredictRequest{Instances: digitImages(t, f, 1)}); err != nil || len(p.Predictions) != 1 {
		t.Errorf("predict with a kept version after a restart: %+v, %v", p, err)
	}
	if d, err = s.DeleteModel(ctx, "m", 0); err != nil || !reflect.DeepEqual(d.Models, refs(api.VersionRef{Name: "m", Version: 1})) {
		t.Fatalf("delete m: %+v, %v", d, err)
	}
	if exists(t, filepath.Join(runs, a.ID)) {
		t.Errorf("%s: the run stayed after its job and its version went", a.ID)
	}
	if _, err := s.Predict(ctx, "m", 0, api.PredictRequest{Instances: digitImages(t, f, 1)}); apiStatus(err) != http.StatusNotFound {
		t.Errorf("predict a deleted model: %v", err)
	}
	if code := deleteReq(t, s, "/v1/models/m"); code != http.StatusNotFound {
		t.Errorf("DELETE a model without versions: %d, want 404", code)
	}

	// A job with its versions, the last job of all: nothing of it is left.
	if d, err = s.DeleteJob(ctx, c.ID, false, true); err != nil || !reflect.DeepEqual(d.Models, refs(api.VersionRef{Name: "other", Version: 1})) {
		t.Fatalf("delete %s with its models: %+v, %v", c.ID, d, err)
	}
	if exists(t, filepath.Join(runs, c.ID)) || exists(t, filepath.Join(logs, c.ID+".log")) {
		t.Errorf("%s: run or log left", c.ID)
	}
	if left, _ := os.ReadDir(runs); len(left) != 0 {
		t.Errorf("runs/ holds %v after every job was deleted", left)
	}
	if ms, err := s.Client.Models(ctx); err != nil || len(ms) != 0 {
		t.Errorf("models left: %+v, %v", ms, err)
	}
	s.stop()

	// After a restart, with nothing of them on disk, neither the deleted
	// ids nor the deleted versions come back.
	s = startServer(t, daemon.Options{DataDir: dataDir, AllowRoots: f.roots, MaxConcurrent: 1})
	m := trainModel(t, s, f, "m")
	if m.ID != "job-000004" || m.Version != 3 {
		t.Errorf("after deleting job-000001..3 and m versions 1, 2: new job %s, version %d; want job-000004, version 3", m.ID, m.Version)
	}

	// A queued or running job: 409, unless cancelled on the way.
	long := f.spec(100_000)
	run, err := s.Submit(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := s.Submit(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	run = waitFor(t, s.Client, run.ID, 30*time.Second, "running", func(j *api.Job) bool { return lastPID(j) > 0 })
	for _, id := range []string{run.ID, queued.ID} {
		if _, err := s.DeleteJob(ctx, id, false, false); apiStatus(err) != http.StatusConflict {
			t.Errorf("delete %s while not ended: %v, want 409", id, err)
		}
	}
	if !exists(t, filepath.Join(runs, run.ID)) {
		t.Fatal("a refused delete removed the run")
	}
	for _, id := range []string{queued.ID, run.ID} {
		if d, err := s.DeleteJob(ctx, id, true, false); err != nil || d.Job != id {
			t.Fatalf("delete %s with cancel: %+v, %v", id, d, err)
		}
		if _, err := s.Job(ctx, id); apiStatus(err) != http.StatusNotFound {
			t.Errorf("%s after delete: %v", id, err)
		}
	}
	gone(t, lastPID(run))
	if exists(t, filepath.Join(runs, run.ID)) || exists(t, filepath.Join(logs, run.ID+".log")) {
		t.Errorf("%s: run or log left after a delete with cancel", run.ID)
	}
}

// getModel is GET /v1/models/NAME (the latest version).
func getModel(t *testing.T, s *testServer, name string) api.Model {
	t.Helper()
	resp, err := http.Get(s.Base + "/v1/models/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m api.Model
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// A prediction in flight finishes before its version unloads, and the
// version is gone for new requests meanwhile; a download under way when
// its version goes is whole or broken off, never a mixed archive.
func TestDeleteDuringPredictionAndDownload(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	job := trainModel(t, s, f, "m")
	trainWide(t, s, f)

	entered, release := make(chan struct{}), make(chan struct{})
	defer daemon.SetPredictHook(func() {
		entered <- struct{}{}
		<-release
	})()
	type predicted struct {
		p   *api.PredictResponse
		err error
	}
	pc := make(chan predicted, 1)
	go func() {
		p, err := s.Predict(ctx, "m", 1, api.PredictRequest{Instances: digitImages(t, f, 3)})
		pc <- predicted{p, err}
	}()
	<-entered
	dc := make(chan error, 1)
	go func() {
		_, err := s.DeleteModel(ctx, "m", 1)
		dc <- err
	}()
	// The version leaves the store at once: new requests get 404...
	deadline := time.Now().Add(10 * time.Second)
	for getModel(t, s, "m").Version != 0 {
		if time.Now().After(deadline) {
			t.Fatal("m/1 still served 10 s after its delete began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// ...while the one in flight holds it, and the delete waits for it.
	select {
	case err := <-dc:
		t.Fatalf("the delete returned (%v) while a prediction used the version", err)
	default:
	}
	close(release)
	if p := <-pc; p.err != nil || len(p.p.Predictions) != 3 || len(p.p.Predictions[0]) != 10 {
		t.Fatalf("the prediction in flight: %+v, %v", p.p, p.err)
	}
	if err := <-dc; err != nil {
		t.Fatal(err)
	}
	if !exists(t, job.RunDir) {
		t.Error("deleting the version removed the run of a job still there")
	}

	// A job deleted while its evaluation reads its run: the evaluation
	// completes, then the run goes.
	held, go_ := make(chan struct{}), make(chan struct{})
	restore := daemon.SetSlotHook(func(string) {
		held <- struct{}{}
		<-go_
	})
	ec := make(chan int, 1)
	go func() {
		code, _, _ := getHdr(t, s.Base+"/v1/jobs/"+job.ID+"/evaluation", nil)
		ec <- code
	}()
	<-held
	go func() {
		_, err := s.DeleteJob(ctx, job.ID, false, false)
		dc <- err
	}()
	deadline = time.Now().Add(10 * time.Second)
	for _, err := s.Job(ctx, job.ID); apiStatus(err) != http.StatusNotFound; _, err = s.Job(ctx, job.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the job still there 10 s after its delete began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-dc:
		t.Fatalf("the delete returned (%v) while an evaluation read the run", err)
	default:
	}
	close(go_)
	restore()
	if code := <-ec; code != http.StatusOK {
		t.Errorf("the evaluation in flight: %d", code)
	}
	if err := <-dc; err != nil {
		t.Fatal(err)
	}
	if exists(t, job.RunDir) {
		t.Error("the run of the deleted job is still on disk")
	}

	// A whole download first, for the archive's reference bytes.
	resp := startExport(t, http.DefaultClient, s, "/v1/models/wide:export")
	whole, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d, %v", resp.StatusCode, err)
	}
	ref, err := untar(whole)
	if err != nil {
		t.Fatal(err)
	}
	// Then one through a small window, deleted after its first bytes.
	resp = startExport(t, smallWindowClient(), s, "/v1/models/wide:export")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteModel(ctx, "wide", 1); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err == nil { // it completed: then it is the whole archive
		got, terr := untar(append(first, rest...))
		if terr != nil || !reflect.DeepEqual(got, ref) {
			t.Errorf("a download that ended without error is not the archive (%v)", terr)
		}
	} else {
		t.Logf("the download broke off after %d bytes: %v", len(first)+len(rest), err)
	}
	if bytes.Equal(append(first, rest...), whole) != (err == nil) {
		t.Error("a download is whole exactly when it ends without error")
	}
	if exists(t, filepath.Join(s.dir, "exports", "wide")) {
		t.Error("exports/wide is still on disk")
	}
	if r := startExport(t, http.DefaultClient, s, "/v1/models/wide/versions/1:export"); r.StatusCode != http.StatusNotFound {
		t.Errorf("export of a deleted version: %d, want 404", r.StatusCode)
	}
}
