package buildinfo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/graft-ml/graft/internal/util/gemm"
)

// Stamped at link time by the Makefile.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Info describes the running binary.
type Info struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit"`
	GoVersion string   `json:"go_version"`
	Platform  string   `json:"platform"`
	Tags      []string `json:"build_tags"`
	GEMM      string   `json:"gemm_backend"`
	GEMMHint  string   `json:"gemm_hint,omitempty"`
	CGO       bool     `json:"cgo"`
}

// Get collects the build information.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Tags: []string{}, GEMM: gemm.Backend, GEMMHint: gemm.FastHint}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "-tags":
				if s.Value != "" {
					info.Tags = strings.Split(s.Value, ",")
				}
			case "CGO_ENABLED":
				info.CGO = s.Value == "1"
			case "vcs.revision":
				if info.Commit == "unknown" {
					info.Commit = s.Value
				}
			}
		}
	}
	return info
}

// GoBuildArgs are the flags that build another graft binary the way the
// running one was built (its tags), so that a test which compiles
// ./cmd/graft tests the same configuration as the test run itself.
func GoBuildArgs() []string {
	tags := Get().Tags
	if len(tags) == 0 {
		return nil
	}
	return []string{"-tags", strings.Join(tags, ",")}
}

// WithGraft compiles ./cmd/graft of the module at repoRoot with
// GoBuildArgs into a temporary folder (the compiler's output going to
// stderr), calls run with the binary's path, removes the folder and returns
// run's exit code, or 1 when the build fails: a TestMain for the tests of
// the daemon and its launchers, which run the real binary as workers.
func WithGraft(repoRoot string, run func(bin string) int) int {
	dir, err := os.MkdirTemp("", "graft-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "graft")
	if err := BuildGraft(repoRoot, bin, ""); err != nil {
		fmt.Fprintln(os.Stderr, "build graft:", err)
		return 1
	}
	return run(bin)
}

// BuildGraft compiles ./cmd/graft of the module at repoRoot into bin with
// GoBuildArgs, stamped with version unless it is empty (two stamps make
// the two builds of an upgrade test), the compiler's output going to
// stderr.
func BuildGraft(repoRoot, bin, version string) error {
	args := append([]string{"build"}, GoBuildArgs()...)
	if version != "" {
		args = append(args, "-ldflags", "-X github.com/graft-ml/graft/internal/base/buildinfo.Version="+version)
	}
	build := exec.Command("go", append(args, "-o", bin, "./cmd/graft")...)
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}
