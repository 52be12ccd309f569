package plan

import "testing"

func TestSplitKCoversTheReduction(t *testing.T) {
	for _, c := range []struct{ tiles, reduce, slots int }{
		{26, 18432, 264}, {196, 18432, 264}, {288, 1568, 264}, {288, 12544, 264},
		{1, 1, 1}, {1, 7, 216}, {3, 9, 80}, {2, 100000, 216}, {0, 5, 10}, {5000, 64, 132},
	} {
		s, slice := SplitK(c.tiles, c.reduce, c.slots, 8)
		if s < 1 || s > 32 || slice%8 != 0 || slice < 8 {
			t.Errorf("%+v: %d splits of %d", c, s, slice)
			continue
		}
		// Every slice non-empty, together exactly the reduction.
		if (s-1)*slice >= c.reduce || s*slice < c.reduce {
			t.Errorf("%+v: %d splits of %d do not tile %d", c, s, slice, c.reduce)
		}
	}
	// The reference shapes on 132 SMs x 2 blocks.
	if s, _ := SplitK(196, 18432, 264, 8); s != 4 {
		t.Errorf("conv forward, batch 256: %d splits, want 4", s)
	}
	if s, _ := SplitK(26, 18432, 264, 8); s < 8 {
		t.Errorf("conv forward, batch 32: %d splits, want >= 8 to fill the GPU", s)
	}
}
