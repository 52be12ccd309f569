package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
)

// closedByServer reports whether the server closes c (or answers and
// closes) before a generous deadline.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Issue 11, defect 6: a body trickled in and an idle keep-alive are cut
// by the read and idle timeouts instead of being held.
func TestSlowAndIdleConnectionsAreCut(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, ReadTimeout: time.Second, IdleTimeout: time.Second})
	addr := strings.TrimPrefix(s.Base, "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "POST /v1/jobs HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	if !closedByServer(t, slow) {
		t.Error("a trickled body held its connection for 20 s")
	}
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if !closedByServer(t, idle) {
		t.Error("an idle keep-alive connection was held for 20 s")
	}
}

// Issue 11, defect 6: connections and event streams beyond their caps get
// 503 with the reason at once; an open stream outlives the read timeout.
func TestConnectionAndStreamCaps(t *testing.T) {
	f := newFixture(t, 3)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxConnections: 6, MaxEventStreams: 2, ReadTimeout: time.Second,
		WorkerArgs: []string{"--step-delay", "1h"}})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	stream := func() (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
		return c.Get(s.Base + "/v1/jobs/" + j.ID + "/events")
	}
	var open []*http.Response
	for range 2 {
		resp, err := stream()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream: %v %v", resp, err)
		}
		defer resp.Body.Close()
		open = append(open, resp)
	}
	resp, err := stream()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "max-event-streams") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third stream: %d %s; want 503 naming --max-event-streams", resp.StatusCode, b)
	}

	// Past the read timeout, the streams still carry the job's end.
	time.Sleep(1500 * time.Millisecond)
	if _, err := s.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	for i, r := range open {
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), "event: cancelled") {
			t.Errorf("stream %d ended without the cancellation:\n%s", i, b)
		}
	}

	// Six connections that sent a request's headers (their bodies held
	// back) fill the cap: the next request is refused. The server cuts
	// them after its read timeout, so each try opens six anew (a loaded
	// machine may take longer than that between two tries).
	addr := strings.TrimPrefix(s.Base, "http://")
	refused := false
	for i := 0; i < 50 && !refused; i++ {
		for range 6 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "POST /v1/jobs HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		}
		time.Sleep(50 * time.Millisecond) // for the server to read their headers
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(s.Base + "/v1/jobs")
		if err != nil {
			continue // the server may drop a connection over the cap
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		refused = resp.StatusCode == 503 && strings.Contains(string(b), "max-connections")
	}
	if !refused {
		t.Error("a connection over --max-connections was served")
	}
}

// Issue 22, defect 11: 300 connections from the loopback trickling their
// headers (slowloris, more than --max-connections) do not keep anyone
// out: /healthz and an authenticated request on fresh connections are
// served while they trickle.
func TestSlowlorisDoesNotStarveOthers(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "right"})
	addr := strings.TrimPrefix(s.Base, "http://")
	stop := make(chan struct{})
	defer close(stop)
	for i := range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		defer c.Close()
		io.WriteString(c, "GET /v1/jobs HTTP/1.1\r\nHost: "+addr+"\r\nX-Slow: ")
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
					if _, err := c.Write([]byte("a")); err != nil {
						return // closed by the server
					}
				}
			}
		}()
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	for i := range 8 {
		resp, err := fresh.Get(s.Base + "/healthz")
		if err != nil {
			t.Fatalf("healthz %d under a slowloris: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("healthz %d under a slowloris: %d", i, resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", s.Base+"/v1/jobs", nil)
		req.Header.Set("Authorization", "Bearer right")
		if resp, err = fresh.Do(req); err != nil {
			t.Fatalf("authenticated request %d under a slowloris: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("authenticated request %d under a slowloris: %d", i, resp.StatusCode)
		}
	}
}

// Issue 11, defect 6: a worker that cannot start because the daemon is
// out of file descriptors is retried without using up the job's attempts;
// once descriptors are free again the job runs and succeeds.
func TestOutOfFilesDoesNotFailTheJob(t *testing.T) {
	f := newFixture(t, 3)
	addr, dataDir := freeAddr(t), filepath.Join(t.TempDir(), "data")
	args := []string{"-c", `ulimit -n 64 && exec "$@"`, "sh", graftBin, "serve", "--listen", addr, "--data-dir", dataDir,
		"--log-format", "json", "--retry-backoff", "50ms", "--max-attempts", "2", "--max-connections", "10000"}
	for _, r := range f.roots {
		args = append(args, "--allow-root", r)
	}
	startDaemonCmd(t, addr, dataDir, exec.Command("sh", append(args, "--worker-step-delay", "100ms")...))
	c := client.New(addr, "")
	ctx := context.Background()
	// A long job holds the only slot while the test job is accepted (its
	// data read at submission); the flood then takes every descriptor.
	blocker, err := c.Submit(ctx, f.spec(1000))
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	var flood []net.Conn
	for range 100 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		flood = append(flood, conn)
	}
	time.Sleep(500 * time.Millisecond)                   // let the daemon accept until it runs out
	if _, err := c.Cancel(ctx, blocker.ID); err != nil { // on the client's kept connection
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the blocker ends; the test job's starts are deferred
	for _, conn := range flood {
		conn.Close()
	}
	j = waitFinal(t, c, j.ID)
	deferred := 0
	for _, a := range j.Attempts {
		if a.Exit == api.ExitDeferred {
			deferred++
		}
	}
	if j.State != api.Succeeded {
		t.Fatalf("job %s %q; attempts %+v", j.State, j.Error, j.Attempts)
	}
	if deferred == 0 {
		t.Errorf("no start was deferred: the test did not exhaust the daemon's descriptors (attempts %+v)", j.Attempts)
	}
}
