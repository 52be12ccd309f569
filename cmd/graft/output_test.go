package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/infer/evaluate"
	"github.com/graft-ml/graft/internal/infer/predict"
)

// predict's text output keeps the score column in one place whatever the
// labels' lengths.
func TestPredictTextColumns(t *testing.T) {
	var b bytes.Buffer
	a := &app{out: &b}
	labels := []string{"a", "white_knight_on_a_dark_square_with_glare", "queen"}
	res := []predict.Result{{Input: "x.jpg", Output: []float32{0.2, 0.5, 0.3}}}
	if err := a.printPredictions(res, "classes", labels, 3, "text"); err != nil {
		t.Fatal(err)
	}
	score := regexp.MustCompile(`0\.[235]\b`)
	col := -1
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n")[1:] {
		at := score.FindStringIndex(l)
		if at == nil {
			t.Fatalf("no score in %q", l)
		}
		if col >= 0 && at[0] != col {
			t.Errorf("scores at columns %d and %d:\n%s", col, at[0], b.String())
		}
		col = at[0]
	}
}

// eval's confusion matrix names its axes and each predicted class above
// its column.
func TestEvalConfusionAxes(t *testing.T) {
	var b bytes.Buffer
	a := &app{out: &b}
	r := evaluate.Report{Samples: 5, Classes: []evaluate.Class{{Name: "bishop"}, {Name: "king"}},
		Confusion: [][]int{{2, 1}, {0, 2}}}
	if err := a.printEval(r, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	_, matrix, _ := strings.Cut(out, "confusion matrix")
	lines := strings.Split(strings.TrimSpace(matrix), "\n")
	if len(lines) != 4 {
		t.Fatalf("matrix:\n%s", matrix)
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != `true \ predicted bishop king` {
		t.Errorf("column header %q", lines[1])
	}
	for i, want := range []string{"bishop 2 1", "king 0 2"} {
		if got := strings.Join(strings.Fields(lines[2+i]), " "); got != want {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
	if !strings.Contains(lines[0], "rows: true class, columns: predicted class") {
		t.Errorf("title %q", lines[0])
	}
}
