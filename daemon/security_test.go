package daemon_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/daemon"
)

// Bad requests get the right 4xx with a message, and nothing is created:
// no job in the store, no run directory.
func TestBadRequestsCreateNothing(t *testing.T) {
	f := newFixture(t, 2)
	outside := t.TempDir()
	escape := filepath.Join(f.data, "escape")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxBodyBytes: 4096})
	good := `"backbone":"` + backboneDir + `","tap":"conv2d_2","preprocess":"unit"`
	type badRequest struct {
		name, body string
		code       int
		want       string // in the error message
	}
	cases := []badRequest{
		{"malformed", `{"backbone": `, 400, "malformed JSON"},
		{"not json", `epochs=3`, 400, "malformed JSON"},
		{"empty", ``, 400, "empty"},
		{"unknown field", `{` + good + `,"data":"` + f.data + `","learning_rate":1}`, 400, `unknown field \"learning_rate\"`},
		{"bad type", `{` + good + `,"data":"` + f.data + `","epochs":"ten"}`, 400, "epochs"},
		{"trailing", `{` + good + `,"data":"` + f.data + `"} {}`, 400, "trailing"},
		{"outside root", `{` + good + `,"data":"` + outside + `"}`, 400, "data: path not allowed"},
		{"dotdot", `{` + good + `,"data":"` + f.data + `/../.."}`, 400, "data: path not allowed"},
		{"symlink", `{` + good + `,"data":"` + escape + `"}`, 400, "data: path not allowed"},
		{"missing path", `{` + good + `,"data":"` + f.data + `/nope"}`, 400, "does not exist"},
		{"backbone outside", `{"backbone":"/etc","tap":"x","data":"` + f.data + `"}`, 400, "backbone: path not allowed"},
		{"out given", `{` + good + `,"data":"` + f.data + `","out":"` + f.data + `/run"}`, 400, "out: set by the daemon"},
		{"cache given", `{` + good + `,"data":"` + f.data + `","cache_dir":"/tmp/x"}`, 400, "cache_dir: set by the daemon"},
		{"invalid spec", `{` + good + `,"data":"` + f.data + `","epochs":-1,"head":"mlp"}`, 400, "epochs: must be >= 1"},
		{"cuda without graft-cuda", `{` + good + `,"data":"` + f.data + `","device":"cuda:0"}`, 400, "device:"},
		{"bad model name", `{` + good + `,"data":"` + f.data + `","model":"../x"}`, 400, "model:"},
		{"too large", `{` + good + `,"data":"` + f.data + `","tap":"` + strings.Repeat("x", 5000) + `"}`, 413, "over 4096 bytes"},
	}
	if !tf.Available {
		cases = append(cases, badRequest{"tensorflow without it", `{` + good + `,"data":"` + f.data + `","engine":"tensorflow"}`, 422, "engine:"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(s.Base+"/v1/jobs", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(b), c.want) || !strings.Contains(string(b), `"error"`) {
				t.Errorf("%d %s; want %d with %q", resp.StatusCode, b, c.code, c.want)
			}
		})
	}
	for _, q := range []string{"", "?path=/etc", "?path=" + escape} {
		resp, err := http.Get(s.Base + "/v1/backbones:inspect" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("inspect %q: %d, want 400", q, resp.StatusCode)
		}
	}
	if _, err := s.Inspect(context.Background(), backboneDir, false); err != nil {
		t.Errorf("inspect inside the roots: %v", err)
	}
	jobs, err := s.Jobs(context.Background())
	if err != nil || len(jobs) != 0 {
		t.Errorf("jobs after bad requests: %v, %v", jobs, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "runs")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a runs directory exists: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was created outside: %v", ents)
	}
}

// Off the loopback a token is required; with a token every request but
// the health checks needs it.
func TestToken(t *testing.T) {
	if err := daemon.CheckListen("0.0.0.0:8470", ""); !errors.Is(err, daemon.ErrNeedToken) {
		t.Errorf("0.0.0.0 without a token: %v", err)
	}
	if err := daemon.CheckListen(":8470", ""); !errors.Is(err, daemon.ErrNeedToken) {
		t.Errorf(":8470 without a token: %v", err)
	}
	for _, a := range []string{"127.0.0.1:8470", "[::1]:8470", "localhost:1"} {
		if err := daemon.CheckListen(a, ""); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if err := daemon.CheckListen("0.0.0.0:8470", "secret"); err != nil {
		t.Errorf("with a token: %v", err)
	}
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "s3cret"})
	for _, c := range []struct {
		path, auth string
		code       int
	}{
		{"/v1/jobs", "", 401},
		{"/v1/jobs", "Bearer wrong", 401},
		{"/v1/jobs", "Basic s3cret", 401},
		{"/metrics", "", 401},
		{"/v1/jobs", "Bearer s3cret", 200},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
	} {
		req, _ := http.NewRequest("GET", s.Base+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s with %q: %d, want %d", c.path, c.auth, resp.StatusCode, c.code)
		}
	}
	resp, err := http.Post(s.Base+"/v1/jobs", "application/json", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("submit without a token: %d", resp.StatusCode)
		}
	}
	if _, err := s.Models(context.Background()); err != nil { // the client sends the token
		t.Errorf("client with the token: %v", err)
	}
}

// /metrics speaks Prometheus' text format.
func TestMetrics(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	resp, err := http.Get(s.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`graft_jobs{state="queued"} 0`, "graft_queue_length 0", "# TYPE graft_predict_duration_seconds histogram", "graft_train_step_seconds_count", "graft_gpu_memory_budget_bytes"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}

// A file inside an allowed data folder that links outside the roots is
// refused at submission (422), naming the file; one that appears after
// submission fails the job in its worker. Nothing outside is read.
func TestSymlinkedSampleOutsideRootsFailsTheJob(t *testing.T) {
	f := newFixture(t, 3)
	outside := filepath.Join(t.TempDir(), "secret.png")
	if err := os.WriteFile(outside, []byte("not for the daemon"), 0o644); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join(f.data, "3", "escape.png")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxConcurrent: 1, WorkerArgs: []string{"--step-delay", "100ms"}})
	ctx := context.Background()
	_, err := s.Submit(ctx, f.spec(1))
	if apiStatus(err) != 422 || !strings.Contains(err.Error(), "outside") || !strings.Contains(err.Error(), "escape.png") {
		t.Errorf("submission with the link: %v; want 422 naming escape.png", err)
	}
	os.Remove(escape)
	blocker, err := s.Submit(ctx, f.spec(1000))
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	s.Cancel(ctx, blocker.ID)
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Failed || !strings.Contains(j.Error, "outside") || !strings.Contains(j.Error, "escape.png") {
		t.Errorf("job %s: %q", j.State, j.Error)
	}
}
