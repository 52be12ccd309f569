package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
)

// TestGridAndSample checks the grid against a hand-written list (keys in
// Keys order, the last fastest) and a sample: distinct grid points,
// the same for the same seed.
func TestGridAndSample(t *testing.T) {
	s, err := Parse([]string{"dropout=0,0.5", "lr=1e-3,1e-2", "head=conv:8,linear"}, "")
	if err != nil {
		t.Fatal(err)
	}
	grid, err := s.Points(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"lr=1e-3 head=conv:8 dropout=0", "lr=1e-3 head=conv:8 dropout=0.5", "lr=1e-3 head=linear dropout=0", "lr=1e-3 head=linear dropout=0.5",
		"lr=1e-2 head=conv:8 dropout=0", "lr=1e-2 head=conv:8 dropout=0.5", "lr=1e-2 head=linear dropout=0", "lr=1e-2 head=linear dropout=0.5",
	}
	if len(grid) != len(want) {
		t.Fatalf("%d points, want %d", len(grid), len(want))
	}
	for i, p := range grid {
		if p.String() != want[i] {
			t.Errorf("point %d: %s, want %s", i, p, want[i])
		}
	}
	a, _ := s.Points(5, 7)
	b, _ := s.Points(5, 7)
	c, _ := s.Points(5, 8)
	all := strings.Join(want, "|")
	seen, same, other := map[string]bool{}, true, false
	for i := range a {
		seen[a[i].String()] = true
		same = same && a[i].String() == b[i].String()
		other = other || a[i].String() != c[i].String()
		if !strings.Contains(all, a[i].String()) {
			t.Errorf("sampled %s is not a grid point", a[i])
		}
	}
	if len(a) != 5 || len(seen) != 5 || !same || !other {
		t.Errorf("sample: %d points, %d distinct, same seed same %v, other seed differs %v", len(a), len(seen), same, other)
	}
	if all, _ := s.Points(100, 7); len(all) != 8 {
		t.Errorf("--trials above the grid: %d points, want the grid's 8", len(all))
	}
}

// TestParseAndApply checks --space and --vary together (the flag wins a
// key) and that Apply sets job-spec fields with their JSON types.
func TestParseAndApply(t *testing.T) {
	file := filepath.Join(t.TempDir(), "space.json")
	os.WriteFile(file, []byte(`{"lr": [0.1, 0.2], "optimizer": ["adam", "sgd"]}`), 0o644)
	s, err := Parse([]string{"lr=0.5"}, file)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() != 2 || len(s["lr"]) != 1 {
		t.Fatalf("space %v", s)
	}
	ps, _ := s.Points(0, 0)
	spec, err := Apply(api.JobSpec{Backbone: "m", LR: api.Ptr(1.0)}, ps[1])
	if err != nil {
		t.Fatal(err)
	}
	if spec.Backbone != "m" || spec.LR == nil || *spec.LR != 0.5 || spec.Optimizer != api.SGD {
		t.Errorf("applied %+v", spec)
	}
	if _, err := Apply(api.JobSpec{}, Point{"batch_size": "big"}); err == nil || !strings.Contains(err.Error(), "batch_size") {
		t.Errorf("a string batch size: %v", err)
	}
}

// TestRank checks the order by each monitor, failures last.
func TestRank(t *testing.T) {
	es := []Entry{
		{Trial: 0, ValLoss: 0.5, ValAccuracy: 0.7, Run: "a"},
		{Trial: 1, Error: "diverged", Run: "b"},
		{Trial: 2, ValLoss: 0.4, ValAccuracy: 0.6, Run: "c"},
		{Trial: 3, ValLoss: 0.5, ValAccuracy: 0.8, Run: "d"},
	}
	for _, c := range []struct {
		m     api.Monitor
		order []int
	}{{api.ValLoss, []int{2, 0, 3, 1}}, {api.ValAccuracy, []int{3, 0, 2, 1}}} {
		l := Rank(c.m, es)
		for i, e := range l.Trials {
			if e.Trial != c.order[i] || e.Rank != i+1 {
				t.Errorf("%s: rank %d is trial %d (rank field %d), want %d", c.m, i+1, e.Trial, e.Rank, c.order[i])
			}
		}
		if l.Best != es[c.order[0]].Run {
			t.Errorf("%s: best %q", c.m, l.Best)
		}
	}
}
