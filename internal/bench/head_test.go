package bench

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/head"
)

func TestHeadSmallShape(t *testing.T) {
	res, err := Head(context.Background(), head.NewCPUOps(), HeadConfig{Batch: 2, Height: 3, Width: 3, Channels: 4, Filters: 5, Classes: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps < 3 || res.StepGFLOPs <= 0 || res.SgemmGFLOPs <= 0 || res.SgemmShape != [3]int{18, 5, 36} {
		t.Errorf("implausible result %+v", res)
	}
}

// BenchmarkHeadStep is the reference step: batch 32, 7x7x2048
// features, 256 filters, 10 classes, Adam.
func BenchmarkHeadStep(b *testing.B) {
	cfg := DefaultHeadConfig()
	cfg.MinTime = 0
	for i := 0; i < b.N; i++ {
		res, err := Head(context.Background(), head.NewCPUOps(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.MsPerStep, "ms/step")
		b.ReportMetric(res.StepGFLOPs, "step-GFLOP/s")
		b.ReportMetric(res.SgemmGFLOPs, "sgemm-GFLOP/s")
		b.ReportMetric(res.Ratio, "ratio")
	}
}
