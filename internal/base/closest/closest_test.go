package closest

import (
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"epoch", "epochs", 1},
		{"kitten", "sitting", 3},
		{"conv2d_2", "conv2d_22", 1},
		{"abc", "", 3},
		{"flaw", "lawn", 2},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	got := Names("epoch", []string{"batch-size", "epochs", "seed", "poch"}, 2)
	if !slices.Equal(got, []string{"epochs", "poch"}) {
		t.Errorf("got %v", got)
	}
}
