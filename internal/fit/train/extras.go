package train

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/run/job"
)

// maxClassWeightBytes caps a class-weight file: a map of class names.
const maxClassWeightBytes = 4 << 20

// resolveClassWeights turns the job's class_weight into weights by class
// name (cfg.ClassWeights, which config.json records), from the training
// split's counts for "balanced" or from the file. A resumed run keeps the
// weights it recorded. It runs before the run directory exists, so a bad
// file leaves nothing behind.
func resolveClassWeights(cfg *job.Job, train *dataset.Dataset) error {
	if cfg.ClassWeight == "" || cfg.ClassWeights != nil {
		return nil
	}
	w := map[string]float64{}
	if cfg.ClassWeight == job.BalancedWeights {
		for c, v := range head.BalancedWeights(train.Counts()) {
			w[train.Classes[c]] = v
		}
		cfg.ClassWeights = w
		return nil
	}
	roots, err := confine.New(cfg.AllowRoots)
	if err != nil {
		return err
	}
	raw, err := roots.ReadFile(cfg.ClassWeight, maxClassWeightBytes)
	if err != nil {
		return fmt.Errorf("train: class_weight: %w (use balanced, or a JSON file mapping class names to weights)", err)
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Errorf("train: class_weight %s: %w: write a JSON object {\"class name\": weight, ...}", cfg.ClassWeight, err)
	}
	var unknown []string
	for name, v := range w {
		if !slices.Contains(train.Classes, name) {
			unknown = append(unknown, fmt.Sprintf("%q", name))
		}
		if err := head.CheckWeight(v); err != nil {
			return fmt.Errorf("train: class_weight %s: class %q: %w", cfg.ClassWeight, name, err)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("train: class_weight %s names classes the data does not have: %s; its classes are %s", cfg.ClassWeight, strings.Join(unknown, ", "), strings.Join(train.Classes, ", "))
	}
	for _, c := range train.Classes { // Keras weighs a class it is not given 1
		if _, ok := w[c]; !ok {
			w[c] = 1
		}
	}
	cfg.ClassWeights = w
	return nil
}

// setExtras gives the model the job's dropout and class weights, in the
// order of the run's classes.
func setExtras(m *head.Model, cfg *job.Job, classes []string) error {
	m.Dropout = float32(cfg.Dropout)
	m.ClassWeights = nil
	if cfg.ClassWeights == nil {
		return nil
	}
	m.ClassWeights = make([]float32, len(classes))
	for i, c := range classes {
		v, ok := cfg.ClassWeights[c]
		if !ok {
			return fmt.Errorf("train: the run's class weights have no class %q", c)
		}
		m.ClassWeights[i] = float32(v)
	}
	return nil
}
