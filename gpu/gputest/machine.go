package gputest

import "github.com/graft-ml/graft/gpu"

// Machine is a host with several fake GPUs, cuda:0 first: each is a
// Fake of its own (its own memory, context and launches), so that a job's
// cuda:N, and two jobs on two GPUs, can be tested without a GPU.
type Machine struct {
	gpus []*Fake
}

// Canned GPUs, with the numbers `graft-cuda devices` reports for them.
var (
	A100 = Device{Name: "NVIDIA A100-SXM4-40GB", Multiprocessors: 108, MemoryBytes: 40 << 30, ComputeCapability: "8.0"}
	H100 = Device{Name: "NVIDIA H100 80GB HBM3", Multiprocessors: 132, MemoryBytes: 80 << 30, ComputeCapability: "9.0"}
)

// NewMachine fakes a host with the GPUs devs.
func NewMachine(devs ...Device) (*Machine, error) {
	m := &Machine{}
	for i, d := range devs {
		f, err := newFake(d)
		if err != nil {
			return nil, err
		}
		f.ordinal = i
		m.gpus = append(m.gpus, f)
	}
	return m, nil
}

// OneA100 is a host with one 40 GB A100.
func OneA100() (*Machine, error) { return NewMachine(A100) }

// TwoH100s is a host with two 80 GB H100s.
func TwoH100s() (*Machine, error) { return NewMachine(H100, H100) }

// Ops opens CUDAOps on the GPU o.Ordinal names, as NewOps does on a real
// host; the Fake is that GPU's.
func (m *Machine) Ops(o gpu.Options) (*gpu.CUDAOps, *Fake, error) {
	ops, err := gpu.OpenOps(m, o)
	if err != nil {
		return nil, nil, err
	}
	return ops, m.gpus[o.Ordinal], nil
}

// GPU is cuda:i's fake.
func (m *Machine) GPU(i int) *Fake { return m.gpus[i] }

// Devices lists the machine's GPUs as Devices lists a real host's.
func (m *Machine) Devices() ([]gpu.DeviceInfo, error) { return gpu.DevicesOf(m) }

func (m *Machine) DeviceCount() (int, error) { return len(m.gpus), nil }
func (m *Machine) Version() int              { return 12020 }

func (m *Machine) Describe(ordinal int) (gpu.DeviceInfo, error) {
	if ordinal < 0 || ordinal >= len(m.gpus) {
		return gpu.DeviceInfo{}, invalid("no device %d", ordinal)
	}
	return m.gpus[ordinal].Describe(0)
}

func (m *Machine) Open(ordinal int) (gpu.Context, error) {
	if ordinal < 0 || ordinal >= len(m.gpus) {
		return nil, invalid("no device %d", ordinal)
	}
	return m.gpus[ordinal], nil
}
