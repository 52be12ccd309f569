package devices

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ml/graft/internal/util/gemm"
)

// Device is one compute device.
type Device struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Cores       int    `json:"cores,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	// GPU fields, as graft-cuda reports them.
	ComputeCapability string `json:"compute_capability,omitempty"`
	GEMM              string `json:"gemm_backend,omitempty"`
}

// CPU describes the host's processor as graft uses it.
func CPU() Device {
	return Device{ID: "cpu", Kind: "cpu", Name: cpuModel(), Cores: runtime.GOMAXPROCS(0), MemoryBytes: memTotal(), GEMM: gemm.Backend}
}

// cpuModel reads the model name from /proc/cpuinfo (Linux), else GOARCH.
func cpuModel() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return runtime.GOARCH
}

// memTotal reads MemTotal from /proc/meminfo, 0 when unknown.
func memTotal() uint64 {
	v := strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")
	kb, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}

func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ErrNoGPU reports that no usable GPU was found, with the reason.
var ErrNoGPU = errors.New("devices: no usable GPU")

// CUDABinary finds graft-cuda: $GRAFT_CUDA, else next to the running
// executable, else on PATH.
func CUDABinary() (string, error) {
	if p := os.Getenv("GRAFT_CUDA"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "graft-cuda")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("graft-cuda")
	if err != nil {
		return "", fmt.Errorf("%w: graft-cuda not found next to graft, on PATH or in $GRAFT_CUDA (build it with make graft-cuda)", ErrNoGPU)
	}
	return p, nil
}

// GPUs asks graft-cuda which GPUs this host has. Any failure (no binary,
// no driver, no device, a timeout) is ErrNoGPU with the reason: the host
// then computes on the CPU.
func GPUs(ctx context.Context) ([]Device, error) {
	bin, err := CUDABinary()
	if err != nil {
		return nil, err
	}
	return GPUsOf(ctx, bin)
}

// GPUsOf is GPUs, asking the graft-cuda binary bin.
func GPUsOf(ctx context.Context, bin string) ([]Device, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "devices")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s devices: %v: %s", ErrNoGPU, bin, err, strings.TrimSpace(stderr.String()))
	}
	var list []Device
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("%w: %s devices printed %q: %v", ErrNoGPU, bin, out, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: %s found no GPU", ErrNoGPU, bin)
	}
	return list, nil
}

// ExitNoGPU is graft-cuda's exit status on a host without a usable GPU.
const ExitNoGPU = 3
