package threads

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Quota reads the CPU limit of the cgroup this process runs in, in CPUs
// (1.5 for "150000 100000"), from the file system under root ("/" in
// production; a fixture tree in tests): cgroup v2's cpu.max, else v1's
// cpu.cfs_quota_us over cpu.cfs_period_us. ok is false when there is no
// limit ("max", a quota of -1) or no file says one.
//
// Go's runtime reads the same files for its default GOMAXPROCS, but
// rounds a limit below 2 up to 2; graft's pools follow the limit itself.
func Quota(root string) (cpus float64, ok bool) {
	for _, dir := range cgroupDirs(root, "") {
		if q, p, found := readPair(filepath.Join(dir, "cpu.max")); found {
			return ratio(q, p)
		}
	}
	for _, ctrl := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
		for _, dir := range cgroupDirs(root, ctrl) {
			q, okq := readInt(filepath.Join(dir, "cpu.cfs_quota_us"))
			p, okp := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
			if okq && okp {
				return ratio(q, p)
			}
		}
	}
	return 0, false
}

// cgroupDirs are the directories to look for a controller's files in:
// the process's own cgroup (from /proc/self/cgroup) under the mount, then
// the mount's root (what a container with its own cgroup namespace sees).
// ctrl is "" for cgroup v2's unified hierarchy.
func cgroupDirs(root, ctrl string) []string {
	mount := filepath.Join(root, "sys/fs/cgroup", ctrl)
	var dirs []string
	if b, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// hierarchy-ID:controller-list:path; v2 is "0::/path".
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 || (ctrl == "" && f[1] != "") || (ctrl != "" && !slices.Contains(strings.Split(f[1], ","), "cpu")) {
				continue
			}
			if p := filepath.Clean("/" + f[2]); p != "/" {
				dirs = append(dirs, filepath.Join(mount, p))
			}
		}
	}
	return append(dirs, mount)
}

// ratio is quota/period as CPUs; a negative quota (v1's -1) is no limit.
func ratio(quota, period int64) (float64, bool) {
	if quota <= 0 || period <= 0 {
		return 0, false
	}
	return float64(quota) / float64(period), true
}

// readPair reads cpu.max: "QUOTA PERIOD", QUOTA "max" for no limit.
func readPair(path string) (quota, period int64, found bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	period, err = strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if f[0] == "max" {
		return -1, period, true
	}
	quota, err = strconv.ParseInt(f[0], 10, 64)
	return quota, period, err == nil
}

func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// For is the number of threads a quota of cpus allows on ncpu cores: the
// quota rounded up (1.5 CPUs run 2 threads, each busy 75% of the time),
// at least 1 and at most ncpu; ncpu without a quota.
func For(cpus float64, limited bool, ncpu int) int {
	if !limited {
		return ncpu
	}
	return max(1, min(ncpu, int(math.Ceil(cpus))))
}

// Default is the threads this process may use: $GOMAXPROCS when set (a
// launcher's choice, as Go's runtime reads it: the Ray launcher sets it
// to the CPUs it reserved), else its cgroup's CPU quota on this host's
// cores.
func Default() int {
	if n, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil && n > 0 {
		return n
	}
	q, ok := Quota("/")
	return For(q, ok, runtime.NumCPU())
}

// Set makes n (0: Default) the process's thread count: GOMAXPROCS, which
// graft's own pools follow. It returns the count set.
func Set(n int) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("threads: %d: use 0 (the CPUs this container may use) or more", n)
	}
	if n == 0 {
		n = Default()
	}
	runtime.GOMAXPROCS(n)
	return n, nil
}
