package head

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/graft-ml/graft/internal/util/atomicfile"
	"github.com/graft-ml/graft/internal/util/safetensors"
)

// ErrCheckpoint reports a checkpoint file that cannot be used.
var ErrCheckpoint = errors.New("head: bad checkpoint")

// checkpointFormat versions the metadata below; bump it on any change that
// an older graft could misread.
const checkpointFormat = 1

// metadataKey holds graft's JSON metadata in the safetensors header.
const metadataKey = "graft.checkpoint"

// Checkpoint is the metadata stored beside the tensors: with them, enough
// to continue training bit for bit.
type Checkpoint struct {
	Format    int       `json:"format"`
	Spec      Spec      `json:"spec"`
	Optimizer Optimizer `json:"optimizer"`
	Classes   []string  `json:"classes,omitempty"`
	Seed      uint64    `json:"seed"`
	Step      int       `json:"step"`
	// RNG is the shuffling generator's state (PCG, binary-marshalled).
	RNG []byte `json:"rng"`
	// Trainer is opaque resume state owned by the training loop (epoch,
	// schedule, best metric, ...).
	Trainer json.RawMessage `json:"trainer,omitempty"`
	// WeightsOnly marks an inference file (SaveWeights): the parameters
	// without optimizer state, which cannot resume training.
	WeightsOnly bool `json:"weights_only,omitempty"`
}

// state lists the device buffers a checkpoint holds, each with the name
// prefix of its tensors in the file: the parameters, then the optimizer's
// slots.
func (m *Model) state() ([]Buffer, []string) {
	prefixes := []string{""}
	switch m.Optimizer.Slots() {
	case 1:
		prefixes = append(prefixes, "optimizer/velocity/")
	case 2:
		prefixes = append(prefixes, "optimizer/m/", "optimizer/v/")
	}
	return append([]Buffer{m.params}, m.slots...), prefixes
}

// Save writes the model, its optimizer state, classes and the trainer's
// resume state to path atomically.
func (m *Model) Save(path string, classes []string, trainer json.RawMessage) error {
	return m.save(path, classes, trainer, false)
}

// SaveWeights writes the parameters and classes only, for inference: a
// third of Adam's checkpoint. Load reads it with zero optimizer state.
func (m *Model) SaveWeights(path string, classes []string) error {
	return m.save(path, classes, nil, true)
}

func (m *Model) save(path string, classes []string, trainer json.RawMessage, weightsOnly bool) error {
	if len(classes) != 0 && len(classes) != m.Spec.Classes {
		return fmt.Errorf("head: %d class names for a %d-class head", len(classes), m.Spec.Classes)
	}
	rng, err := m.rng.MarshalBinary()
	if err != nil {
		return fmt.Errorf("head: save rng: %w", err)
	}
	meta, err := json.Marshal(Checkpoint{Format: checkpointFormat, Spec: m.Spec, Optimizer: m.Optimizer, Classes: classes, Seed: m.Seed, Step: m.Step, RNG: rng, Trainer: trainer, WeightsOnly: weightsOnly})
	if err != nil {
		return fmt.Errorf("head: save: %w", err)
	}
	bufs, prefixes := m.state()
	if weightsOnly {
		bufs, prefixes = bufs[:1], prefixes[:1]
	}
	var tensors []safetensors.Tensor
	for i, b := range bufs {
		host := make([]float32, m.layout.Total)
		if err := m.ops.Download(host, b, 0); err != nil {
			return fmt.Errorf("head: save: %w", err)
		}
		for _, t := range m.layout.Tensors {
			tensors = append(tensors, safetensors.Tensor{Name: prefixes[i] + t.Name, Shape: t.Shape, Data: host[t.Offset : t.Offset+t.Size]})
		}
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return safetensors.Write(w, tensors, map[string]string{metadataKey: string(meta)})
	})
}

// Load reads a checkpoint written by Save onto the device behind ops.
func Load(ops Ops, path string) (*Model, *Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("head: load checkpoint: %w", err)
	}
	m, ck, err := decode(ops, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("head: load checkpoint %s: %w", path, err)
	}
	return m, ck, nil
}

func decode(ops Ops, raw []byte) (*Model, *Checkpoint, error) {
	f, err := safetensors.Read(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	meta, ok := f.Metadata[metadataKey]
	if !ok {
		return nil, nil, fmt.Errorf("%w: no %q metadata: not a graft head checkpoint", ErrCheckpoint, metadataKey)
	}
	var ck Checkpoint
	dec := json.NewDecoder(bytes.NewReader([]byte(meta)))
	if err := dec.Decode(&ck); err != nil {
		return nil, nil, fmt.Errorf("%w: metadata: %v", ErrCheckpoint, err)
	}
	if ck.Format != checkpointFormat {
		return nil, nil, fmt.Errorf("%w: format %d, this graft reads format %d", ErrCheckpoint, ck.Format, checkpointFormat)
	}
	if len(ck.Classes) != 0 && len(ck.Classes) != ck.Spec.Classes {
		return nil, nil, fmt.Errorf("%w: %d class names for %d classes", ErrCheckpoint, len(ck.Classes), ck.Spec.Classes)
	}
	m, err := alloc(ops, ck.Spec, ck.Optimizer, ck.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	rng := &rand.PCG{}
	if err := rng.UnmarshalBinary(ck.RNG); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("%w: rng state: %v", ErrCheckpoint, err)
	}
	m.rng, m.Step = rng, ck.Step
	bufs, prefixes := m.state()
	if ck.WeightsOnly {
		bufs, prefixes = bufs[:1], prefixes[:1] // the slots stay zero
	}
	for i, b := range bufs {
		host := make([]float32, m.layout.Total)
		for _, t := range m.layout.Tensors {
			name := prefixes[i] + t.Name
			st, ok := f.Tensors[name]
			if !ok {
				m.Close()
				return nil, nil, fmt.Errorf("%w: tensor %q is missing", ErrCheckpoint, name)
			}
			if !slices.Equal(st.Shape, t.Shape) {
				m.Close()
				return nil, nil, fmt.Errorf("%w: tensor %q has shape %v, the spec needs %v", ErrCheckpoint, name, st.Shape, t.Shape)
			}
			copy(host[t.Offset:], st.Data)
		}
		if err := ops.Upload(b, 0, host); err != nil {
			m.Close()
			return nil, nil, err
		}
	}
	return m, &ck, nil
}
