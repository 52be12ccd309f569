package gpu_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/head"
)

func machineOps(t *testing.T, m *gputest.Machine, o gpu.Options) (*gpu.CUDAOps, *gputest.Fake) {
	t.Helper()
	ops, f, err := m.Ops(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ops.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return ops, f
}

// TestFakeMachines: the canned hosts list their GPUs as graft-cuda
// devices would (the numbers are the cards' own), and cuda:N opens GPU N
// with its memory: the default budget is 90% of that GPU's free memory.
func TestFakeMachines(t *testing.T) {
	for _, c := range []struct {
		name   string
		open   func() (*gputest.Machine, error)
		gpus   int
		memory int64
		cc     string
	}{
		{"one A100", gputest.OneA100, 1, 40 << 30, "8.0"},
		{"two H100s", gputest.TwoH100s, 2, 80 << 30, "9.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			list, err := m.Devices()
			if err != nil || len(list) != c.gpus {
				t.Fatalf("devices %+v, %v: want %d", list, err, c.gpus)
			}
			for i, d := range list {
				if want := "cuda:" + string(rune('0'+i)); d.ID != want || d.Ordinal != i || d.Kind != "cuda" || d.MemoryBytes != c.memory || d.ComputeCapability != c.cc {
					t.Errorf("device %d: %+v, want %s with %d bytes, cc %s", i, d, want, c.memory, c.cc)
				}
				ops, f := machineOps(t, m, gpu.Options{Ordinal: i})
				if ops.Device() != d.ID || f != m.GPU(i) {
					t.Errorf("cuda:%d opened %s", i, ops.Device())
				}
				if want := c.memory / 10 * 9; ops.Budget() != want {
					t.Errorf("cuda:%d: budget %d, want 90%% of %d = %d", i, ops.Budget(), c.memory, want)
				}
			}
			// graft-cuda devices prints the list as JSON; the daemon reads
			// it (internal/base/devices). Its shape, written out by hand.
			if c.gpus == 2 {
				b, err := json.Marshal(list[1])
				want := `{"id":"cuda:1","ordinal":1,"kind":"cuda","name":"NVIDIA H100 80GB HBM3","compute_capability":"9.0","multiprocessors":132,"memory_bytes":85899345920,"driver_version":12020}`
				if err != nil || string(b) != want {
					t.Errorf("cuda:1 as graft-cuda devices prints it:\n got %s (%v)\nwant %s", b, err, want)
				}
			}
			_, _, err = m.Ops(gpu.Options{Ordinal: c.gpus})
			if !errors.Is(err, gpu.ErrCUDA) || !strings.Contains(err.Error(), "no device cuda:") {
				t.Errorf("cuda:%d on a host with %d GPUs: %v", c.gpus, c.gpus, err)
			}
		})
	}
}

// TestTwoJobsOnTwoGPUs: two heads, both open at once, one on each H100;
// each GPU sees only its own job's allocations and launches.
func TestTwoJobsOnTwoGPUs(t *testing.T) {
	m, err := gputest.TwoH100s()
	if err != nil {
		t.Fatal(err)
	}
	spec := head.Spec{Height: 3, Width: 3, Channels: 4, Kind: head.KindConv, Filters: 5, Kernel: 3, Classes: 3}
	ops0, _ := machineOps(t, m, gpu.Options{Ordinal: 0, MemoryBudget: 64 << 20})
	ops1, _ := machineOps(t, m, gpu.Options{Ordinal: 1, MemoryBudget: 64 << 20})
	trainStep(t, ops0, spec, 4, 8)
	trainStep(t, ops1, spec, 4, 9)
	a, b := m.GPU(0), m.GPU(1)
	if len(a.Launches()) == 0 || len(b.Launches()) == 0 {
		t.Fatalf("launches: cuda:0 %d, cuda:1 %d: want both GPUs used", len(a.Launches()), len(b.Launches()))
	}
	if a.Allocations() == 0 || b.Allocations() == 0 {
		t.Fatalf("allocations: cuda:0 %d, cuda:1 %d", a.Allocations(), b.Allocations())
	}
	// One job alone on cuda:1 leaves cuda:0 untouched.
	m2, _ := gputest.TwoH100s()
	ops, _ := machineOps(t, m2, gpu.Options{Ordinal: 1, MemoryBudget: 64 << 20})
	trainStep(t, ops, spec, 4, 8)
	if n := len(m2.GPU(0).Launches()); n != 0 || m2.GPU(0).Allocations() != 0 {
		t.Errorf("a job on cuda:1 launched %d kernels and allocated %d times on cuda:0", n, m2.GPU(0).Allocations())
	}
}
