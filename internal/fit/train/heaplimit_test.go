package train

import (
	"context"
	"path/filepath"
	"runtime/debug"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graft-ml/graft/internal/base/memlimit"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// TestRunLimitsTheHeap checks that a run sets the Go heap's soft limit
// from its plan (memlimit.For) while it trains, says so, and puts the previous limit
// back; and that a GOMEMLIMIT in the environment is left alone.
func TestRunLimitsTheHeap(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 2)
	before := debug.SetMemoryLimit(-1)
	for _, env := range []string{"", "3GiB"} {
		t.Run("GOMEMLIMIT="+env, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", env)
			cfg := Config{Backbone: writeDigitCNN(t, 0), Tap: "conv2d", Data: data, Head: "conv:8", Preprocess: "unit",
				Epochs: 1, CacheDir: "none", Out: filepath.Join(t.TempDir(), "run")}
			core, logs := observer.New(zapcore.InfoLevel)
			during := int64(0)
			progress := func(e Event) {
				if during == 0 {
					during = debug.SetMemoryLimit(-1)
				}
			}
			if _, err := Run(context.Background(), cfg, Options{Log: zap.New(core), Progress: progress}); err != nil {
				t.Fatal(err)
			}
			said := logs.FilterMessage("heap soft limit").All()
			if env != "" {
				if len(said) != 0 || during != before {
					t.Errorf("GOMEMLIMIT set: log %v, limit during the run %d; want none set", said, during)
				}
				return
			}
			if len(said) != 1 {
				t.Fatalf("log %v, want one 'heap soft limit' line", said)
			}
			f := said[0].ContextMap()
			limit, planned := f["bytes"].(int64), f["planned_host_bytes"].(int64)
			if planned <= 0 || limit != int64(memlimit.Headroom*float64(planned))+memlimit.Slack || during != limit {
				t.Errorf("limit %d for a plan of %d bytes, %d during the run", limit, planned, during)
			}
		})
		if after := debug.SetMemoryLimit(-1); after != before {
			t.Errorf("after the run the limit is %d, was %d", after, before)
		}
	}
}
