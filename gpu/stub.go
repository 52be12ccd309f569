//go:build !cuda

package gpu

// Available reports whether this build can use a GPU.
func Available() error { return ErrNoCUDA }

// Devices lists the GPUs; without the cuda tag there are none to see.
func Devices() ([]DeviceInfo, error) { return nil, ErrNoCUDA }
