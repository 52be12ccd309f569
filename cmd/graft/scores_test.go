package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// scores runs graft predict and returns each image's full score vector
// (by class index) and top-1 label.
func scores(t *testing.T, classes int, args ...string) ([][]float64, []string) {
	t.Helper()
	out, code := run(t, append([]string{"predict", "--format", "jsonl", "--top", "1000"}, args...)...)
	if code != 0 {
		t.Fatalf("predict %v: exit %d: %s", args[:2], code, out)
	}
	var vecs [][]float64
	var top []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Top []struct {
				Index int
				Label string
				Score float64
			}
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || len(l.Top) != classes {
			t.Fatalf("predict line %q: %v (want %d scores)", line, err, classes)
		}
		v := make([]float64, classes)
		for _, s := range l.Top {
			v[s.Index] = s.Score
		}
		vecs, top = append(vecs, v), append(top, l.Top[0].Label)
	}
	return vecs, top
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
