package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/daemon/ui"
)

// getHdr sends a GET with the given headers and returns the status, the
// headers and the body.
func getHdr(t *testing.T, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The dashboard's files are served without the token (they hold no data)
// but with a strict CSP, and only them: the API still wants the token, and
// the Host and Origin checks still apply to the page.
func TestDashboardFiles(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "secret"})
	port := s.Base[strings.LastIndex(s.Base, ":")+1:]
	for _, c := range []struct {
		name, path string
		hdr        map[string]string
		code       int
		ctype      string
	}{
		{"page", "/ui", nil, 200, "text/html"},
		{"page slash", "/ui/", nil, 200, "text/html"},
		{"script", "/ui/app.js", nil, 200, "text/javascript"},
		{"styles", "/ui/app.css", nil, 200, "text/css"},
		{"unknown file", "/ui/secret.json", nil, 404, ""},
		{"no directories", "/ui/static/app.js", nil, 404, ""},
		{"not a prefix match", "/uix", nil, 401, ""},
		{"API without token", "/v1/jobs", nil, 401, ""},
		{"foreign origin", "/ui/app.js", map[string]string{"Origin": "http://evil.example"}, 403, ""},
		{"same origin", "/ui/app.js", map[string]string{"Origin": "http://127.0.0.1:" + port}, 200, "text/javascript"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, h, _ := getHdr(t, s.Base+c.path, c.hdr)
			if code != c.code {
				t.Fatalf("GET %s: %d, want %d", c.path, code, c.code)
			}
			if c.code != 200 {
				return
			}
			if !strings.HasPrefix(h.Get("Content-Type"), c.ctype) {
				t.Errorf("Content-Type %q, want %s", h.Get("Content-Type"), c.ctype)
			}
			if h.Get("Content-Security-Policy") != ui.CSP || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v: want the CSP and nosniff", h)
			}
		})
	}
	// Without a token the Host check (DNS rebinding) covers the page too.
	open := startServer(t, daemon.Options{AllowRoots: f.roots})
	if code, _, _ := getHdr(t, open.Base+"/ui", map[string]string{"Host": "evil.example"}); code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d, want 421", code)
	}
	if !strings.Contains(ui.CSP, "script-src 'self';") || strings.Contains(ui.CSP, "unsafe") {
		t.Errorf("CSP %q: want scripts from this origin only", ui.CSP)
	}
}

// A job's log is its worker log file's end; its evaluation is graft eval
// --split val of its run (the CLI, a separate process, is the oracle),
// and its accuracy is the one training measured for the best epoch.
func TestJobLogAndEvaluation(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Token: "secret"})
	auth := map[string]string{"Authorization": "Bearer secret"}
	if code, _, _ := getHdr(t, s.Base+"/v1/jobs/job-999999/log", auth); code != 404 {
		t.Errorf("log of no job: %d, want 404", code)
	}
	if code, _, _ := getHdr(t, s.Base+"/v1/jobs/job-999999/evaluation", auth); code != 404 {
		t.Errorf("evaluation of no job: %d, want 404", code)
	}
	j, err := s.Submit(t.Context(), f.spec(3))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := getHdr(t, s.Base+"/v1/jobs/"+j.ID+"/evaluation", auth); code != 409 || !strings.Contains(body, "once it has succeeded") {
		t.Errorf("evaluation of an unfinished job: %d %s, want 409", code, body)
	}
	done := waitFinal(t, s.Client, j.ID)
	if done.State != api.Succeeded {
		t.Fatalf("job %s: %s", done.State, done.Error)
	}
	if code, _, _ := getHdr(t, s.Base+"/v1/jobs/"+j.ID+"/log", nil); code != 401 {
		t.Errorf("log without the token: %d, want 401", code)
	}
	code, h, shown := getHdr(t, s.Base+"/v1/jobs/"+j.ID+"/log", auth)
	file, err := os.ReadFile(filepath.Join(s.dir, "logs", j.ID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || shown == "" || !strings.HasSuffix(string(file), shown) {
		t.Errorf("log: %d %s, %d bytes; want the end of the %d-byte log file", code, h.Get("Content-Type"), len(shown), len(file))
	}

	code, _, body := getHdr(t, s.Base+"/v1/jobs/"+j.ID+"/evaluation", auth)
	if code != 200 {
		t.Fatalf("evaluation: %d %s", code, body)
	}
	var got daemon.Evaluation
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(graftBin, "eval", "--run", done.RunDir, "--split", "val", "--format", "json").Output()
	if err != nil {
		t.Fatalf("graft eval: %v", err)
	}
	var want struct {
		Samples   int     `json:"samples"`
		Accuracy  float64 `json:"accuracy"`
		Confusion [][]int `json:"confusion"`
		Classes   []struct {
			Name      string  `json:"name"`
			Precision float64 `json:"precision"`
			Recall    float64 `json:"recall"`
		} `json:"classes"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	if got.Samples != want.Samples || len(got.Confusion) != len(want.Confusion) || len(got.Classes) != len(want.Classes) {
		t.Fatalf("evaluation %+v, graft eval %+v", got, want)
	}
	for i := range want.Confusion {
		for k := range want.Confusion[i] {
			if got.Confusion[i][k] != want.Confusion[i][k] {
				t.Errorf("confusion[%d][%d] = %d, graft eval %d", i, k, got.Confusion[i][k], want.Confusion[i][k])
			}
		}
		if c, w := got.Classes[i], want.Classes[i]; c.Name != w.Name || c.Precision != w.Precision || c.Recall != w.Recall {
			t.Errorf("class %d: %+v, graft eval %+v", i, c, w)
		}
	}
	sum := done.Summary
	if got.Split != "val" || got.BestEpoch != sum.BestEpoch || got.Samples != sum.ValSamples || got.Accuracy != sum.BestValAccuracy {
		t.Errorf("evaluation: split %s, best epoch %d, %d samples, accuracy %v; training said best epoch %d, %d validation samples, accuracy %v",
			got.Split, got.BestEpoch, got.Samples, got.Accuracy, sum.BestEpoch, sum.ValSamples, sum.BestValAccuracy)
	}
}
