package sched

import (
	"fmt"
	"syscall"
)

// DiskSpace reports dir's disk when it has less than min bytes free.
func DiskSpace(dir string, min int64) error {
	if free, under := FreeDisk(dir, min); under {
		return fmt.Errorf("the disk of the data directory %s has %d bytes free, under the %d a job needs: free space there", dir, free, min)
	}
	return nil
}

// FreeDisk is the free space on dir's disk (-1: unknown), and whether it
// is under min (unknown is not under).
func FreeDisk(dir string, min int64) (free int64, under bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, false
	}
	free = int64(st.Bavail) * int64(st.Bsize)
	return free, free < min
}
