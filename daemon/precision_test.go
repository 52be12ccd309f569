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

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// A cpu job's precision is checked at submission: tf32 is GPUs' only
// (given on the cpu, or where auto chose the cpu), bf16 needs a CPU with
// AMX or AVX512_BF16; here the daemon's CPU is said to lack it, whatever
// this host has. Nothing is queued.
func TestPrecisionRefusedAtSubmission(t *testing.T) {
	f := newFixture(t, 2)
	noBF16 := errors.New("this test's CPU has no AVX512_BF16")
	s := startServer(t, daemon.Options{AllowRoots: f.roots, BF16Check: func() error { return noBF16 }})
	good := `"backbone":"` + backboneDir + `","data":"` + f.data + `","preprocess":"unit","tap":"conv2d_2"`
	for _, c := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"bf16 on a CPU without it", `{` + good + `,"precision":"bf16"}`, 422, "no AVX512_BF16"},
		{"tf32 on the cpu", `{` + good + `,"precision":"tf32","device":"cpu"}`, 422, "GPUs only"},
		{"tf32 where auto chose the cpu", `{` + good + `,"precision":"tf32","device":"auto"}`, 422, "GPUs only"},
		{"an unknown precision", `{` + good + `,"precision":"fp16"}`, 400, "use auto, fp32, bf16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(s.Base+"/v1/jobs", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(b), `"field": "precision"`) || !strings.Contains(string(b), c.want) {
				t.Errorf("%d %s; want %d on field precision saying %q", resp.StatusCode, b, c.code, c.want)
			}
		})
	}
	if jobs, err := s.Jobs(context.Background()); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after refusals: %v %v", jobs, err)
	}
	req := f.spec(1)
	req.Precision = "fp32"
	if _, err := s.Submit(context.Background(), req); err != nil {
		t.Errorf("an fp32 job on the same daemon: %v", err)
	}
}

// A daemon job's precision reaches its worker: bf16 runs the bf16 CPU
// head (the worker's log names its kernel), fp32 the plain one (no such
// line), and the run's config.json records each, for a resumed attempt.
func TestPrecisionReachesWorker(t *testing.T) {
	if err := gemm.BF16Check(); err != nil {
		t.Skip(err)
	}
	f := newFixture(t, 2)
	// The workers log at the daemon's level: info, for the "cpu head" line.
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
	for _, prec := range []string{"bf16", "fp32"} {
		req := f.spec(1)
		req.Precision = prec
		j, err := s.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
			t.Fatalf("%s: %s %s", prec, j.State, j.Error)
		}
		var rec api.RunSpec
		if err := rundir.ReadJSON(j.RunDir, rundir.ConfigFile, &rec); err != nil || rec.Precision != prec || j.Spec.Precision != prec {
			t.Errorf("%s: config.json precision %q (%v), the stored spec's %q", prec, rec.Precision, err, j.Spec.Precision)
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "logs", j.ID+".log"))
		if err != nil {
			t.Fatal(err)
		}
		bf16Line := strings.Contains(string(b), `"cpu head"`) && strings.Contains(string(b), `"precision":"bf16"`) && strings.Contains(string(b), gemm.BF16Kernel())
		if bf16Line != (prec == "bf16") {
			t.Errorf("%s: the worker's log says the bf16 head ran: %v\n%s", prec, bf16Line, b)
		}
	}
}
