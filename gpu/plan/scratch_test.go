package plan

import (
	"testing"

	"github.com/graft-ml/graft/head"
)

// The plan at the reference shape, worked out by hand (issue 15's
// figures): batch 256 on 132 SMs x 2 blocks; the forward GEMM has
// 98 x 2 tiles and splits its 18,432-long reduction 4 ways, the weight
// gradient 144 x 2 tiles and splits its 12,544 rows 7 ways.
func TestScratchPlanByHand(t *testing.T) {
	spec := head.DefaultSpec(7, 7, 2048, 10)
	p := ForAnyGPU(spec, 256, 256, 264)
	act := int64(4 * 256 * 49 * 256) // 12.8 MB
	want := Scratch{
		"idx": 8 * 256, "stats": 16 * 256, // indices then labels; losses then correct flags
		"pooled": 4 * 256 * 256, "dpooled": 4 * 256 * 256, "bsum": 4 * 256 * 256,
		"logits": 4 * 256 * 10, "dlogits": 4 * 256 * 10,
		"act":    act,
		"splitk": max(4*act, 7*4*18432*256), // 51 MB forward, 132 MB weight gradient
	}
	if len(p) != len(want) {
		t.Errorf("plan %v, want %v", p, want)
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s: %d bytes, want %d", k, p[k], v)
		}
	}
	// Without a device the plan covers any GPU: never less.
	if any := ForAnyGPU(spec, 256, 256, 0); any.Bytes() < p.Bytes() {
		t.Errorf("plan for any GPU %d < plan for 132 SMs %d", any.Bytes(), p.Bytes())
	}
}
