package threads

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestQuota reads hand-written cgroup trees: the expected CPUs are
// quota/period worked out by hand, and the threads their ceiling.
func TestQuota(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		cpus    float64
		limited bool
		threads int // on 8 cores
	}{
		{"v2 no limit", map[string]string{"sys/fs/cgroup/cpu.max": "max 100000\n"}, 0, false, 8},
		{"v2 1.5 CPUs", map[string]string{"sys/fs/cgroup/cpu.max": "150000 100000\n"}, 1.5, true, 2},
		{"v2 half a CPU", map[string]string{"sys/fs/cgroup/cpu.max": "50000 100000\n"}, 0.5, true, 1},
		{"v2 over the cores", map[string]string{"sys/fs/cgroup/cpu.max": "1600000 100000\n"}, 16, true, 8},
		{"v2 the process's own cgroup first", map[string]string{
			"proc/self/cgroup":                   "0::/jobs/a\n",
			"sys/fs/cgroup/jobs/a/cpu.max":       "300000 100000\n",
			"sys/fs/cgroup/cpu.max":              "max 100000\n",
			"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "100000\n",
		}, 3, true, 3},
		{"v2 garbage", map[string]string{"sys/fs/cgroup/cpu.max": "lots\n"}, 0, false, 8},
		{"v1 limit", map[string]string{
			"sys/fs/cgroup/cpu/cpu.cfs_quota_us":  "250000\n",
			"sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
		}, 2.5, true, 3},
		{"v1 no limit", map[string]string{
			"sys/fs/cgroup/cpu/cpu.cfs_quota_us":  "-1\n",
			"sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
		}, 0, false, 8},
		{"v1 cpu,cpuacct under the process's path", map[string]string{
			"proc/self/cgroup": "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n",
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us":  "100000\n",
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "50000\n",
		}, 2, true, 2},
		{"v1 quota without a period", map[string]string{"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "100000\n"}, 0, false, 8},
		{"no files", nil, 0, false, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cpus, limited := Quota(root)
			if cpus != tc.cpus || limited != tc.limited {
				t.Fatalf("Quota = %v, %v; want %v, %v", cpus, limited, tc.cpus, tc.limited)
			}
			if n := For(cpus, limited, 8); n != tc.threads {
				t.Fatalf("For(%v, %v, 8) = %d; want %d", cpus, limited, n, tc.threads)
			}
		})
	}
}

func TestSet(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	if n, err := Set(1); err != nil || n != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Fatalf("Set(1) = %d, %v; GOMAXPROCS %d", n, err, runtime.GOMAXPROCS(0))
	}
	if _, err := Set(-1); err == nil {
		t.Fatal("Set(-1): no error")
	}
	t.Setenv("GOMAXPROCS", "")
	if n, err := Set(0); err != nil || n != Default() || n > runtime.NumCPU() {
		t.Fatalf("Set(0) = %d, %v; Default %d", n, err, Default())
	}
	t.Setenv("GOMAXPROCS", "3") // a launcher's choice wins over the quota
	if n, err := Set(0); err != nil || n != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("Set(0) with GOMAXPROCS=3: %d, %v", n, err)
	}
}
