//go:build !graftcuda

package gpu

// systemDriver is the host's CUDA driver; this build has none.
func systemDriver() (Driver, error) { return nil, ErrNoCUDA }
