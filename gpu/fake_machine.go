package gpu

// FakeMachine is a host with several fake GPUs, cuda:0 first: each is a
// Fake of its own (its own memory, context and launches), so that a job's
// cuda:N, and two jobs on two GPUs, can be tested without a GPU.
type FakeMachine struct {
	gpus []*Fake
}

// Canned GPUs, with the numbers `graft-cuda devices` reports for them.
var (
	FakeA100 = FakeDevice{Name: "NVIDIA A100-SXM4-40GB", Multiprocessors: 108, MemoryBytes: 40 << 30, ComputeCapability: "8.0"}
	FakeH100 = FakeDevice{Name: "NVIDIA H100 80GB HBM3", Multiprocessors: 132, MemoryBytes: 80 << 30, ComputeCapability: "9.0"}
)

// NewFakeMachine fakes a host with the GPUs devs.
func NewFakeMachine(devs ...FakeDevice) (*FakeMachine, error) {
	m := &FakeMachine{}
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
func OneA100() (*FakeMachine, error) { return NewFakeMachine(FakeA100) }

// TwoH100s is a host with two 80 GB H100s.
func TwoH100s() (*FakeMachine, error) { return NewFakeMachine(FakeH100, FakeH100) }

// Ops opens CUDAOps on the GPU o.Ordinal names, as NewOps does on a real
// host; the Fake is that GPU's.
func (m *FakeMachine) Ops(o Options) (*CUDAOps, *Fake, error) {
	ops, err := newOps(m, o)
	if err != nil {
		return nil, nil, err
	}
	return ops, m.gpus[o.Ordinal], nil
}

// GPU is cuda:i's fake.
func (m *FakeMachine) GPU(i int) *Fake { return m.gpus[i] }

// Devices lists the machine's GPUs as Devices lists a real host's.
func (m *FakeMachine) Devices() ([]DeviceInfo, error) { return devicesOf(m) }

func (m *FakeMachine) deviceCount() (int, error) { return len(m.gpus), nil }
func (m *FakeMachine) version() int              { return 12020 }

func (m *FakeMachine) describe(ordinal int) (DeviceInfo, error) {
	if ordinal < 0 || ordinal >= len(m.gpus) {
		return DeviceInfo{}, invalid("no device %d", ordinal)
	}
	return m.gpus[ordinal].describe(0)
}

func (m *FakeMachine) open(ordinal int) (devContext, error) {
	if ordinal < 0 || ordinal >= len(m.gpus) {
		return nil, invalid("no device %d", ordinal)
	}
	return m.gpus[ordinal], nil
}
