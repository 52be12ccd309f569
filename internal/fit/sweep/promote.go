package sweep

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/util/atomicfile"
)

// Promote copies the run directory best (a trial's) into the sweep
// directory out, file by file (trials/ and the sweep's own files are not
// a run's), so that out is itself a normal run directory holding the best
// head: `graft eval --run SWEEP` and the like take it.
func Promote(out, best string) error {
	err := filepath.WalkDir(best, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(best, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(out, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if err := atomicfile.Copy(p, dst, 0o644); err != nil {
			return fmt.Errorf("sweep: promoting the best trial: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The run's record names where it is.
	var conf api.RunSpec
	if err := rundir.ReadJSON(out, rundir.ConfigFile, &conf); err != nil {
		return err
	}
	conf.Out = out
	return rundir.WriteJSON(out, rundir.ConfigFile, conf)
}
