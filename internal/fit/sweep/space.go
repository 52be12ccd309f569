package sweep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/graft-ml/graft/api"
)

// Keys are the settings a sweep may vary: the head's and the optimizer's,
// which need no new features. They are job-spec fields (snake_case).
var Keys = []string{"lr", "head", "dropout", "weight_decay", "label_smoothing", "optimizer", "momentum", "batch_size"}

// Space maps each varied key to the values it takes, in the order given.
type Space map[string][]any

// Point is one trial's settings: a value for each key of the space.
type Point map[string]any

// Parse reads a space from --space FILE (JSON: {"lr": [0.001, 0.01],
// "head": ["conv:16", "linear"]}) and --vary KEY=V1,V2,... flags (each
// value JSON when it parses as JSON, else a string); a key in both takes
// the flag's values.
func Parse(vary []string, file string) (Space, error) {
	s := Space{}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("sweep: --space: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("sweep: --space %s: %w: write a JSON object of lists, e.g. {\"lr\": [0.001, 0.01], \"head\": [\"conv:16\", \"linear\"]}", file, err)
		}
	}
	for _, v := range vary {
		key, list, ok := strings.Cut(v, "=")
		if !ok || key == "" || list == "" {
			return nil, fmt.Errorf("sweep: --vary %q: write KEY=V1,V2,... e.g. --vary lr=1e-3,1e-2", v)
		}
		var vals []any
		for _, part := range strings.Split(list, ",") {
			vals = append(vals, value(strings.TrimSpace(part)))
		}
		s[key] = vals
	}
	return s, s.check()
}

// value is a flag's value as JSON: a number or a boolean as such, else a
// string ("conv:16", "adam").
func value(s string) any {
	var n json.Number
	if err := json.Unmarshal([]byte(s), &n); err == nil {
		return n
	}
	return s
}

func (s Space) check() error {
	if len(s) == 0 {
		return fmt.Errorf("sweep: nothing to vary: give --vary KEY=V1,V2,... or --space FILE (keys: %s)", strings.Join(Keys, ", "))
	}
	for _, k := range s.keys() {
		if !slices.Contains(Keys, k) {
			return fmt.Errorf("sweep: %q cannot vary in a sweep (its features are extracted once): vary %s", k, strings.Join(Keys, ", "))
		}
		if len(s[k]) == 0 {
			return fmt.Errorf("sweep: %q has no values", k)
		}
	}
	return nil
}

// keys is the space's keys in Keys order: the grid's axes, slowest first.
func (s Space) keys() []string {
	var out []string
	for _, k := range Keys {
		if _, ok := s[k]; ok {
			out = append(out, k)
		}
	}
	for k := range s { // unknown ones, for check's message
		if !slices.Contains(Keys, k) {
			out = append(out, k)
		}
	}
	return out
}

// Size is the number of points of the grid.
func (s Space) Size() int {
	n := 1
	for _, v := range s {
		n *= len(v)
	}
	return n
}

// point is the grid's point i (mixed radix over keys, the last fastest).
func (s Space) point(i int) Point {
	p := Point{}
	keys := s.keys()
	for j := len(keys) - 1; j >= 0; j-- {
		vals := s[keys[j]]
		p[keys[j]] = vals[i%len(vals)]
		i /= len(vals)
	}
	return p
}

// Points is the sweep's trials: every point of the grid in order when
// trials is 0 or covers it, else trials distinct points drawn with seed
// (a random search over the grid, as Keras Tuner's RandomSearch over
// Choice values), in the order drawn.
func (s Space) Points(trials int, seed uint64) ([]Point, error) {
	if trials < 0 {
		return nil, fmt.Errorf("sweep: --trials %d: must be >= 0 (0: the whole grid)", trials)
	}
	n := s.Size()
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if trials > 0 && trials < n {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		idx = idx[:trials]
	}
	out := make([]Point, len(idx))
	for i, g := range idx {
		out[i] = s.point(g)
	}
	return out, nil
}

// Apply is base with p's settings: each key set as its JSON field, so a
// value of the wrong type is the job spec's own decoding error.
func Apply(base api.JobSpec, p Point) (api.JobSpec, error) {
	raw, err := json.Marshal(base)
	if err != nil {
		return base, err
	}
	fields := map[string]any{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return base, err
	}
	for k, v := range p {
		fields[k] = v
	}
	raw, _ = json.Marshal(fields)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var out api.JobSpec
	if err := dec.Decode(&out); err != nil {
		return base, fmt.Errorf("sweep: %s: %w", p, err)
	}
	return out, nil
}

// String writes p as key=value pairs in Keys order.
func (p Point) String() string {
	var parts []string
	for _, k := range Space(p.asSpace()).keys() {
		parts = append(parts, fmt.Sprintf("%s=%v", k, p[k]))
	}
	return strings.Join(parts, " ")
}

func (p Point) asSpace() map[string][]any {
	s := map[string][]any{}
	for k, v := range p {
		s[k] = []any{v}
	}
	return s
}
