package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// graft worker: spec in, JSON-lines events out; an error ends with the
// error event and a non-zero exit.
func TestWorkerProtocol(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 3)
	run1 := filepath.Join(t.TempDir(), "run")
	spec := filepath.Join(t.TempDir(), "spec.json")
	b, _ := json.Marshal(map[string]any{"backbone": fashionCNN, "tap": "conv2d_2", "data": data, "preprocess": "unit", "head": "conv:8",
		"epochs": 1, "batch_size": 16, "cache_dir": "none", "out": run1})
	os.WriteFile(spec, b, 0o644)
	out, code := run(t, "worker", "--spec", spec, "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
	}
	if last["event"] != "done" {
		t.Errorf("last event %v", last)
	}
	os.WriteFile(spec, []byte(`{"backbone": "nowhere", "tap": "x", "data": "x", "out": "`+filepath.Join(t.TempDir(), "r")+`"}`), 0o644)
	out, code = run(t, "worker", "--spec", spec, "--log-format", "json")
	if code == 0 || !strings.Contains(out, `"event":"error"`) {
		t.Errorf("a bad spec: exit %d\n%s", code, out)
	}
}

// The client commands against a daemon.
func TestJobsCommands(t *testing.T) {
	root, _ := filepath.Abs("../../testdata")
	data := testmodules.Digits(t, "train", 0, 2) // read at submission
	server := serveInProcess(t, daemon.Options{DataDir: t.TempDir(), AllowRoots: []string{root, data}, WorkerPath: "/bin/false", MaxAttempts: 1})

	if out, code := run(t, "jobs", "ls", server); code != 0 || !strings.Contains(out, "STATE") {
		t.Errorf("jobs ls: exit %d\n%s", code, out)
	}
	if out, code := run(t, "models", "ls", "--json", server); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("models ls: exit %d\n%s", code, out)
	}
	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"backbone": "/etc", "tap": "x", "data": "/etc"}`), 0o644)
	if _, code := run(t, "jobs", "submit", spec, server); code == 0 {
		t.Errorf("jobs submit of a spec outside the roots: exit 0")
	}
	if _, code := run(t, "jobs", "show", "job-000001", server); code == 0 {
		t.Errorf("jobs show of no job: exit 0")
	}
	backbone, _ := filepath.Abs(fashionCNN)
	os.WriteFile(spec, []byte(`{"backbone": "`+backbone+`", "tap": "conv2d_2", "data": "`+data+`", "epochs": 1}`), 0o644)
	out, code := run(t, "jobs", "submit", spec, "--model", "m", server)
	id := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(id, "job-") {
		t.Fatalf("jobs submit: exit %d\n%s", code, out)
	}
	if out, code := run(t, "jobs", "show", id, server); code != 0 || !strings.Contains(out, `"model": "m"`) {
		t.Errorf("jobs show: exit %d\n%s", code, out)
	}
	// Relative paths are the spec file's, wherever graft runs.
	beside := filepath.Join(filepath.Dir(data), "spec.json")
	rel, _ := filepath.Rel(filepath.Dir(data), backbone)
	os.WriteFile(beside, []byte(`{"backbone": "`+rel+`", "tap": "conv2d_2", "data": "`+filepath.Base(data)+`", "epochs": 1}`), 0o644)
	out, stderr, code := runAll(t, "jobs", "submit", beside, server)
	if code != 0 || !strings.Contains(stderr, "resolved against the spec file's folder") {
		t.Errorf("jobs submit of relative paths: exit %d\n%s%s", code, out, stderr)
	}
	if out, _ := run(t, "jobs", "show", strings.TrimSpace(out), server); !strings.Contains(out, `"data": "`+data+`"`) || !strings.Contains(out, `"backbone": "`+backbone+`"`) {
		t.Errorf("jobs show: want data %s and backbone %s\n%s", data, backbone, out)
	}
	run(t, "jobs", "cancel", strings.TrimSpace(out), server)
	run(t, "jobs", "cancel", id, server) // cancelled, or failed already: the worker is /bin/false
	if out, code := run(t, "jobs", "logs", "-f", id, server); code == 0 || !strings.Contains(out, `"type":"queued"`) {
		t.Errorf("jobs logs -f of a job that did not succeed: exit %d\n%s", code, out)
	}
	// A job whose worker ran (and failed: /bin/false) lists this host
	// as the node of its attempt.
	out, _ = run(t, "jobs", "submit", spec, "--model", "m", server)
	id = strings.TrimSpace(out)
	run(t, "jobs", "logs", "-f", id, server) // until it ends
	host, _ := os.Hostname()
	out, code = run(t, "jobs", "ls", server)
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, id+" ") {
			row = l
		}
	}
	if code != 0 || !strings.Contains(out, "NODES") || !strings.Contains(row, " "+host+" ") {
		t.Errorf("jobs ls: exit %d, want the node %q in the row of %s\n%s", code, host, id, out)
	}

	// Deleting: the ended job goes; what is not there, or not a
	// version, is an error that says so.
	if out, code := run(t, "jobs", "rm", id, server); code != 0 || strings.TrimSpace(out) != id+": deleted" {
		t.Errorf("jobs rm: exit %d\n%s", code, out)
	}
	if _, code := run(t, "jobs", "show", id, server); code == 0 {
		t.Errorf("jobs show of a deleted job: exit 0")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"jobs", "rm", id}, "not found"},
		{[]string{"models", "rm", "m"}, `model "m" has no versions`},
		{[]string{"models", "rm", "m/2"}, `model "m" version 2`},
		{[]string{"models", "rm", "m/two"}, "NAME/VERSION"},
	} {
		if _, stderr, code := runAll(t, append(c.args, server)...); code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, want an error saying %q\n%s", c.args, code, c.want, stderr)
		}
	}
}

// serveInProcess runs a daemon with o on a loopback port until the test
// ends, and returns the --server flag that reaches it.
func serveInProcess(t *testing.T, o daemon.Options) string {
	t.Helper()
	s, err := daemon.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "--server=" + ln.Addr().String()
}
