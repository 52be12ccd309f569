package evaluate

import (
	"math"
	"testing"
)

func TestScoreHandComputed(t *testing.T) {
	// 6 samples, 3 classes. Class a: 2 samples, both right; b: 3 samples,
	// 2 right, 1 predicted as c; c: 1 sample, predicted as a.
	r := Score([]string{"a", "b", "c"}, []int{0, 0, 1, 1, 1, 2}, []int{0, 0, 1, 1, 2, 0})
	if r.Accuracy != 4.0/6 {
		t.Errorf("accuracy %v", r.Accuracy)
	}
	want := []Class{
		{"a", 2.0 / 3, 1, 0.8, 2}, // predicted a 3 times, 2 right
		{"b", 1, 2.0 / 3, 0.8, 3}, // predicted b twice, both right
		{"c", 0, 0, 0, 1},         // predicted c once, wrong
	}
	for i, w := range want {
		g := r.Classes[i]
		if g.Name != w.Name || g.Support != w.Support || math.Abs(g.Precision-w.Precision) > 1e-12 || math.Abs(g.Recall-w.Recall) > 1e-12 || math.Abs(g.F1-w.F1) > 1e-12 {
			t.Errorf("class %s: %+v, want %+v", w.Name, g, w)
		}
	}
	if r.Confusion[1][2] != 1 || r.Confusion[2][0] != 1 || r.Confusion[0][0] != 2 {
		t.Errorf("confusion %v", r.Confusion)
	}
	if math.Abs(r.MacroF1-1.6/3) > 1e-12 {
		t.Errorf("macro F1 %v", r.MacroF1)
	}
}

func TestScoreProbabilitiesTakesArgmax(t *testing.T) {
	// Row 0 favours class 1 (label 1: right), row 1 class 0 (label 1: wrong).
	r := ScoreProbabilities([]string{"a", "b"}, []int32{1, 1}, []float32{0.2, 0.8, 0.6, 0.4})
	if r.Accuracy != 0.5 || r.Confusion[1][1] != 1 || r.Confusion[1][0] != 1 {
		t.Errorf("%+v", r)
	}
}
