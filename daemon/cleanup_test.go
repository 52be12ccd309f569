package daemon_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/daemon"
)

// What a daemon killed mid-write leaves (each temporary pattern graft
// writes under the data directory) is gone after the next start; the
// finished files beside it stay.
func TestStartCleansCrashLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	write := func(rel string) string {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leftovers := []string{
		write("exports/digits/.1.tmp-123456/variables/variables.index"), // savedmodel.Write's folder
		write("exports/digits/.1.manifest.json.tmp-42"),                 // atomicfile
		write("runs/job-000001/.head.ckpt.tmp-7"),                       // rundir, checkpoints
		write("runs/job-000001/checkpoints/.epoch-3.ckpt.tmp-8"),
		write("cache/0123abcd/ab/.tmp-99"), // featcache entries
	}
	kept := []string{
		write("exports/digits/1/saved_model.pb"),
		write("runs/job-000001/config.json"),
		write("runs/job-000001/x.tmp-1"), // not hidden: not graft's
		write("cache/0123abcd/ab/ab12.f32"),
		write("logs/job-000001.log"),
	}
	s := startServer(t, daemon.Options{DataDir: dir})
	s.stop()
	for _, p := range leftovers {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there after a start", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "exports/digits/.1.tmp-123456")); err == nil {
		t.Error("the export's temporary folder is still there")
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
