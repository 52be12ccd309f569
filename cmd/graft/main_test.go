package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/util/gemm"
)

// TestMain makes the test binary graft itself when asGraft is set, so
// that a daemon in a test runs real workers (graftStandIn).
func TestMain(m *testing.M) {
	if os.Getenv(asGraft) == "1" {
		os.Exit(execute(os.Args[1:]))
	}
	os.Exit(m.Run())
}

const asGraft = "GRAFT_TEST_AS_GRAFT"

// graftStandIn is a program that runs this test binary as graft (a
// daemon passes its workers no variable of ours, so a script sets it).
func graftStandIn(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "graft")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+asGraft+"=1 exec '"+self+"' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// run executes the CLI in-process with stdout captured to a file.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = f
	code := execute(args)
	os.Stdout = old
	f.Close()
	b, _ := os.ReadFile(f.Name())
	return string(b), code
}

// runAll is run with stderr (logs and the error) captured too.
func runAll(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = f
	stdout, code = run(t, args...)
	os.Stderr = old
	f.Close()
	b, _ := os.ReadFile(f.Name())
	return stdout, string(b), code
}

func TestVersionJSON(t *testing.T) {
	out, code := run(t, "version", "--json", "--log-format", "json")
	var info struct {
		GoVersion string `json:"go_version"`
		GEMM      string `json:"gemm_backend"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || !strings.HasPrefix(info.GoVersion, "go") || info.GEMM == "" {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestDevicesListsCPU(t *testing.T) {
	out, code := run(t, "devices", "--json")
	var list []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 || list[0].ID != "cpu" {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestBenchHeadSmall(t *testing.T) {
	out, code := run(t, "bench", "head", "--batch", "2", "--channels", "8", "--filters", "4", "--min-time", "1ms", "--threads", "1", "--json")
	var res struct {
		Ratio   float64 `json:"ratio"`
		Threads int     `json:"threads"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Ratio <= 0 || res.Threads != 1 {
		t.Errorf("exit %d, output %q", code, out)
	}
}

// --precision bf16 runs where the CPU has AVX512_BF16 and is refused,
// saying so, where it has not.
func TestBenchHeadPrecision(t *testing.T) {
	out, code := run(t, "bench", "head", "--precision", "bf16", "--batch", "2", "--channels", "8", "--filters", "4", "--min-time", "1ms", "--json")
	if gemm.BF16Check() != nil { // the message is on stderr
		if code == 0 {
			t.Errorf("no AVX512_BF16: exit %d, output %q", code, out)
		}
		return
	}
	var res struct {
		Precision string  `json:"precision"`
		BF16      float64 `json:"bf16_gemm_gflop_per_s"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Precision != "bf16" || res.BF16 <= 0 {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestBadFlagsFail(t *testing.T) {
	for _, args := range [][]string{
		{"version", "--log-format", "xml"},
		{"bench", "head", "--device", "cuda"},
		{"bench", "head", "--classes", "1", "--min-time", "1ms"},
		{"bench", "head", "--threads", "-1", "--min-time", "1ms"},
		{"bench", "head", "--precision", "tf32", "--min-time", "1ms"},
		{"train", "--precision", "fp16"},
		{"nosuchcommand"},
	} {
		if _, code := run(t, args...); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}

// --profile=false leaves the native engine's per-op profile (a second pass
// over the batches) out; by default it is there.
func TestBenchBackboneProfileFlag(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want bool
	}{{"--profile=true", true}, {"--profile=false", false}} {
		out, code := run(t, "bench", "backbone", fixture, "--batch", "2", "--min-time", "1ms", tc.flag, "--json")
		var runs []struct {
			ImagesPerSec float64         `json:"images_per_s"`
			Profile      json.RawMessage `json:"native_profile"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 || runs[0].ImagesPerSec <= 0 || (runs[0].Profile != nil) != tc.want {
			t.Errorf("%s: exit %d, output %q", tc.flag, code, out)
		}
	}
}
