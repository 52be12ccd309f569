// Package devices reports what a host can compute on. The CPU is always
// there; GPUs are reported by the graft-cuda binary (the only one that
// links CUDA) and are added when that binary exists.
package devices

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/internal/gemm"
)

// Device is one compute device.
type Device struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Cores       int    `json:"cores,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	GEMM        string `json:"gemm_backend,omitempty"`
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
