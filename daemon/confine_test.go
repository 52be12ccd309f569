package daemon_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
)

// copyModel copies the test backbone into dir.
func copyModel(t *testing.T, dir string) string {
	t.Helper()
	for _, f := range []string{"saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"} {
		b, err := os.ReadFile(filepath.Join(backboneDir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// get fetches a URL with a deadline: a request that hangs fails the test.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 11, defects 1 and 2: every file of a backbone folder inside the
// roots is opened inside them, and only if it is a regular file: a link
// out of the roots, a FIFO or a device is refused at once, and nothing of
// what lies outside is read or echoed.
func TestBackboneFilesConfined(t *testing.T) {
	f := newFixture(t, 3)
	models, outside := t.TempDir(), t.TempDir()
	real := copyModel(t, filepath.Join(outside, "model"))
	secret := filepath.Join(outside, "secret.txt")
	os.WriteFile(secret, []byte("TOPSECRET"), 0o600)
	mk := func(name string, files map[string]string) string {
		dir := filepath.Join(models, name)
		copyModel(t, dir)
		for f, target := range files {
			os.RemoveAll(filepath.Join(dir, f))
			switch target {
			case "": // removed
				continue
			case "fifo":
				if err := syscall.Mkfifo(filepath.Join(dir, f), 0o600); err != nil {
					t.Fatal(err)
				}
				continue
			}
			symlink(t, target, filepath.Join(dir, f))
		}
		return dir
	}
	cases := []struct {
		name string
		dir  string
		want string // in the refusal
		job  bool   // also submit a job on it
	}{
		{"pb links out", mk("pb", map[string]string{"saved_model.pb": filepath.Join(real, "saved_model.pb")}), "outside", true},
		{"variables link out", mk("vars", map[string]string{"variables": filepath.Join(real, "variables")}), "outside", true},
		{"pbtxt links to a secret", mk("txt", map[string]string{"saved_model.pb": "", "saved_model.pbtxt": secret}), "outside", false},
		{"pbtxt links to passwd", mk("pw", map[string]string{"saved_model.pb": "", "saved_model.pbtxt": "/etc/passwd"}), "outside", false},
		{"pb links to /dev/zero", mk("zero", map[string]string{"saved_model.pb": "/dev/zero"}), "outside", false},
		{"pb is a FIFO", mk("fifo", map[string]string{"saved_model.pb": "fifo"}), "regular file", true},
	}
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, models)})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := get(t, s.Base+"/v1/backbones:inspect?path="+url.QueryEscape(c.dir))
			if code < 400 || code >= 500 || !strings.Contains(body, c.want) || strings.Contains(body, "TOPSECRET") || strings.Contains(body, "root:") {
				t.Errorf("inspect: %d %s; want a 4xx saying %q", code, body, c.want)
			}
			if !c.job {
				return
			}
			req := f.spec(1)
			req.Backbone = c.dir
			j, err := s.Submit(context.Background(), req)
			if err != nil {
				if st := apiStatus(err); st < 400 || st >= 500 || !strings.Contains(err.Error(), c.want) {
					t.Errorf("submit: %v; want a 4xx saying %q", err, c.want)
				}
				return
			}
			j = waitFinal(t, s.Client, j.ID)
			if j.State != api.Failed || !strings.Contains(j.Error, c.want) {
				t.Errorf("job on %s: %s %q; want failed saying %q", c.dir, j.State, j.Error, c.want)
			}
		})
	}
}

// Issue 11, defect 2: a FIFO among the images is skipped as a bad file
// (the worker does not block on it) and the job ends.
func TestFIFOImageDoesNotHang(t *testing.T) {
	f := newFixture(t, 3)
	if err := syscall.Mkfifo(filepath.Join(f.data, "3", "pipe.png"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	j = waitFor(t, s.Client, j.ID, 60*time.Second, "ended", func(j *api.Job) bool { return j.State.Final() })
	if j.State != api.Succeeded {
		t.Errorf("job: %s %q; want succeeded, the FIFO skipped", j.State, j.Error)
	}
}

// Issue 11, defect 3: confinement holds where the files are opened. A
// queued job's backbone folder, replaced by a link to a model outside the
// roots after submission, is not read: the job fails saying so.
func TestBackboneSwappedAfterSubmission(t *testing.T) {
	f := newFixture(t, 3)
	models, outside := t.TempDir(), t.TempDir()
	dir := copyModel(t, filepath.Join(models, "m"))
	elsewhere := copyModel(t, filepath.Join(outside, "m"))
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, models), MaxConcurrent: 1, WorkerArgs: []string{"--step-delay", "100ms"}})
	blocker, err := s.Submit(context.Background(), f.spec(1000))
	if err != nil {
		t.Fatal(err)
	}
	req := f.spec(1)
	req.Backbone = dir
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	symlink(t, elsewhere, dir)
	if _, err := s.Cancel(context.Background(), blocker.ID); err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Failed || !strings.Contains(j.Error, "outside") {
		t.Errorf("job on the swapped backbone: %s %q; want failed, outside the roots", j.State, j.Error)
	}
}
