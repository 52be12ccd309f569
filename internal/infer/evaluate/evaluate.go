package evaluate

// Class is one class's scores. Precision is 0 for a class never
// predicted, recall 0 for a class absent from the labels.
type Class struct {
	Name      string  `json:"name"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Report is the evaluation of one data set.
type Report struct {
	Samples  int     `json:"samples"`
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
	Classes  []Class `json:"classes"`
	// Confusion[i][j] counts samples of class i predicted as class j.
	Confusion [][]int `json:"confusion"`
}

// Score compares predicted class indices with labels.
func Score(names []string, labels, predicted []int) Report {
	k := len(names)
	r := Report{Samples: len(labels), Confusion: make([][]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	correct := 0
	for i, y := range labels {
		r.Confusion[y][predicted[i]]++
		if y == predicted[i] {
			correct++
		}
	}
	if len(labels) > 0 {
		r.Accuracy = float64(correct) / float64(len(labels))
	}
	for c := 0; c < k; c++ {
		tp, predictedC, support := r.Confusion[c][c], 0, 0
		for o := 0; o < k; o++ {
			predictedC += r.Confusion[o][c]
			support += r.Confusion[c][o]
		}
		cl := Class{Name: names[c], Support: support}
		if predictedC > 0 {
			cl.Precision = float64(tp) / float64(predictedC)
		}
		if support > 0 {
			cl.Recall = float64(tp) / float64(support)
		}
		if cl.Precision+cl.Recall > 0 {
			cl.F1 = 2 * cl.Precision * cl.Recall / (cl.Precision + cl.Recall)
		}
		r.MacroF1 += cl.F1 / float64(k)
		r.Classes = append(r.Classes, cl)
	}
	return r
}

// ScoreProbabilities scores rows of class probabilities (len(labels) x
// len(names)), predicting each row's most probable class.
func ScoreProbabilities(names []string, labels []int32, probs []float32) Report {
	k := len(names)
	truth, predicted := make([]int, len(labels)), make([]int, len(labels))
	for i, y := range labels {
		truth[i] = int(y)
		row := probs[i*k : (i+1)*k]
		for j, p := range row {
			if p > row[predicted[i]] {
				predicted[i] = j
			}
		}
	}
	return Score(names, truth, predicted)
}
