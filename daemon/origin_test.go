package daemon_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graft-ml/graft/daemon"
)

// Issue 11, defect 9: what a web page the user visits could send to a
// daemon on the loopback is refused: writes that are not JSON (415), a
// foreign Host (DNS rebinding, 421), a foreign Origin (403). The daemon's
// own names and --allow-host names are served.
func TestCrossSiteRequestsRefused(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, AllowHosts: []string{"graft.internal"}})
	port := s.Base[strings.LastIndex(s.Base, ":")+1:]
	spec := `{"backbone":"` + backboneDir + `","data":"` + f.data + `","tap":"conv2d_2","preprocess":"unit","epochs":1}`
	for _, c := range []struct {
		name, method, path, ctype, host, origin, body string
		code                                          int
	}{
		{"text/plain submit", "POST", "/v1/jobs", "text/plain", "", "", spec, 415},
		{"form cancel", "POST", "/v1/jobs/job-000001:cancel", "application/x-www-form-urlencoded", "", "", "a=b", 415},
		{"no content type", "POST", "/v1/jobs", "", "", "", spec, 415},
		{"foreign host", "GET", "/v1/jobs", "", "evil.example:" + port, "", "", 421},
		{"foreign host submit", "POST", "/v1/jobs", "application/json", "evil.example:" + port, "", spec, 421},
		{"foreign origin", "POST", "/v1/jobs", "application/json", "", "http://evil.example", spec, 403},
		{"null origin", "GET", "/v1/jobs", "", "", "null", "", 403},
		{"localhost", "GET", "/v1/jobs", "", "localhost:" + port, "", "", 200},
		{"same origin", "GET", "/v1/jobs", "", "", "http://127.0.0.1:" + port, "", 200},
		{"allowed host", "GET", "/v1/jobs", "", "graft.internal:" + port, "http://graft.internal:" + port, "", 200},
		{"health from anywhere", "GET", "/healthz", "", "evil.example", "", "", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, s.Base+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.host != "" {
				req.Host = c.host
			}
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || (c.code >= 400 && !strings.Contains(string(b), `"error"`)) {
				t.Errorf("%d %s; want %d", resp.StatusCode, b, c.code)
			}
		})
	}
	if jobs, err := s.Jobs(t.Context()); err != nil || len(jobs) != 0 {
		t.Errorf("jobs: %d, %v; want none created", len(jobs), err)
	}
}

// Issue 11, defect 16: guessing the token is slowed down: after ten wrong
// tokens an address gets 429 for a while for every wrong token. Issue 22,
// defect 5: the right token is still served, from the same address, both
// after wrong tokens and after requests with none (what an <img> tag on
// any web page sends to /metrics).
func TestWrongTokensSlowedDown(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "right"})
	try := func(path, tok string) int {
		req, _ := http.NewRequest("GET", s.Base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := try("/v1/jobs", "right"); c != 200 {
		t.Fatalf("the right token: %d", c)
	}
	for i := range 10 {
		if c := try("/v1/jobs", "guess"); c != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i, c)
		}
	}
	if c := try("/v1/jobs", "guess"); c != 429 {
		t.Errorf("the 11th wrong token: %d, want 429", c)
	}
	if c := try("/v1/jobs", ""); c != 429 {
		t.Errorf("no token while refused: %d, want 429", c)
	}
	if c := try("/v1/jobs", "right"); c != 200 {
		t.Errorf("the right token while guesses are refused: %d, want 200", c)
	}
	if c := try("/metrics", "right"); c != 200 {
		t.Errorf("the right token on /metrics while guesses are refused: %d, want 200", c)
	}
}

// Issue 22, defect 5: requests with no token at all (ten, then more) do
// not lock the token holder out.
func TestNoTokenFloodDoesNotLockOut(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "right"})
	var last int
	for i := range 15 {
		resp, err := http.Get(s.Base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp.StatusCode
		if !resp.Close { // issue 22, defect 11: it may not hold a connection
			t.Errorf("request %d without a token (%d) kept its connection open", i, last)
		}
	}
	if last != 429 {
		t.Errorf("the 15th request without a token: %d, want 429", last)
	}
	if _, err := s.Jobs(t.Context()); err != nil {
		t.Errorf("the token holder after a flood without tokens: %v, want served", err)
	}
}
