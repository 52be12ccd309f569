//go:build !linux

package logging

import "os"

// IsTerminal reports whether f is a character device, as near as this
// platform gets without terminal ioctls.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
