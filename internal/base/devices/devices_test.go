package devices

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCUDA writes a shell script standing in for graft-cuda.
func fakeCUDA(t *testing.T, body string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "graft-cuda")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRAFT_CUDA", p)
}

func TestGPUsFromGraftCUDA(t *testing.T) {
	fakeCUDA(t, `echo '[{"id":"cuda:0","kind":"cuda","name":"NVIDIA H100","compute_capability":"9.0","memory_bytes":85000000000}]'`)
	gpus, err := GPUs(context.Background())
	if err != nil || len(gpus) != 1 || gpus[0].Name != "NVIDIA H100" || gpus[0].ComputeCapability != "9.0" {
		t.Fatalf("%+v %v", gpus, err)
	}
}

func TestNoGPUIsReportedNotFatal(t *testing.T) {
	fakeCUDA(t, `echo "graft-cuda: no usable GPU: cuInit: CUDA_ERROR_NO_DEVICE" >&2; exit 3`)
	_, err := GPUs(context.Background())
	if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "CUDA_ERROR_NO_DEVICE") {
		t.Errorf("no device: %v", err)
	}
	fakeCUDA(t, `echo '[]'`)
	if _, err := GPUs(context.Background()); !errors.Is(err, ErrNoGPU) {
		t.Errorf("empty list: %v", err)
	}
	t.Setenv("GRAFT_CUDA", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := GPUs(context.Background()); !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "make graft-cuda") {
		t.Errorf("no binary: %v", err)
	}
}

func TestCPU(t *testing.T) {
	c := CPU()
	if c.ID != "cpu" || c.Cores < 1 || c.GEMM == "" {
		t.Errorf("%+v", c)
	}
}
