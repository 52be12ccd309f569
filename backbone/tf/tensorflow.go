//go:build tensorflow

package tf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	tensorflow "github.com/galeone/tensorflow/tensorflow/go"
	tg "github.com/galeone/tfgo"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Available reports whether this binary has the TensorFlow engine.
const Available = true

// errClosed reports a Backbone used after Close.
var errClosed = errors.New("tf: backbone is closed")

// Backbone runs a SavedModel, cut at a tap or a signature output, through
// libtensorflow. It implements backbone.Backbone; Features may be called
// concurrently.
type Backbone struct {
	prep  *native.Prepared
	input backbone.TensorSpec
	tap   backbone.TensorSpec

	mu    sync.RWMutex // Features read-locks, Close write-locks
	graph *tensorflow.Graph
	sess  *tensorflow.Session
	in    tensorflow.Output
	out   tensorflow.Output
}

var _ backbone.Backbone = (*Backbone)(nil)

// prepare is how every TensorFlow path starts: o checked, libtensorflow
// loaded, and the SavedModel in dir flattened as the native engine does.
func prepare(dir string, o Options) (session, *native.Prepared, error) {
	sc, err := sessionConfig(o)
	if err != nil {
		return session{}, nil, err
	}
	if _, err := Load(); err != nil {
		return session{}, nil, err
	}
	p, err := native.Prepare(dir, o.Options)
	if err != nil {
		return session{}, nil, err
	}
	return sc, p, nil
}

// prepareFlat is prepare with the flat graph serialised for TensorFlow.
func prepareFlat(dir string, o Options) (session, *native.Prepared, []byte, error) {
	sc, p, err := prepare(dir, o)
	if err != nil {
		return session{}, nil, nil, err
	}
	def, err := graphDef(p.Graph, p.Model.MetaGraph().GetGraphDef().GetVersions())
	if err != nil {
		return session{}, nil, nil, fmt.Errorf("tf: model %s: %w", dir, err)
	}
	return sc, p, def, nil
}

// Open loads the SavedModel in dir, flattens the graph from its
// signature's image input to the tap (or output) exactly as the native
// engine does, imports it into TensorFlow and starts a session on
// o.Device.
func Open(dir string, o Options) (*Backbone, error) {
	sc, p, def, err := prepareFlat(dir, o)
	if err != nil {
		return nil, err
	}
	b := &Backbone{prep: p, input: p.Input}
	err = guard("open "+dir, func() error {
		g := tensorflow.NewGraph()
		if err := g.ImportWithOptions(def, tensorflow.GraphImportOptions{Device: sc.device}); err != nil {
			return fmt.Errorf("import the flat graph: %w", err)
		}
		var err error
		if b.in, err = output(g, p.Graph.Inputs[0]); err != nil {
			return err
		}
		if b.out, err = output(g, p.Graph.Outputs[0]); err != nil {
			return err
		}
		sess, err := tensorflow.NewSession(g, &tensorflow.SessionOptions{Config: sc.config})
		if err != nil {
			return fmt.Errorf("new session on device %q: %w", o.Device, err)
		}
		if err := checkDevice(sess, o.Device, sc.device); err != nil {
			sess.Close()
			return err
		}
		b.graph, b.sess = g, sess
		return nil
	})
	if err != nil {
		return nil, err
	}
	shape, err := p.TapShape()
	if err != nil {
		// An op the native engine lacks: TensorFlow's own inference.
		var err2 error
		if shape, err2 = b.tfShape(); err2 != nil {
			b.Close()
			return nil, fmt.Errorf("%w (and from TensorFlow: %v)", err, err2)
		}
	}
	b.tap = backbone.TensorSpec{Name: p.Graph.Outputs[0], DType: tensor.DType(b.out.DataType()), Shape: shape}
	return b, nil
}

// checkDevice fails when the session lacks the device the graph was
// placed on: soft placement would otherwise run a graph meant for a GPU
// on the CPU without a word.
func checkDevice(sess *tensorflow.Session, name, want string) error {
	if want == "" {
		return nil
	}
	devs, err := sess.ListDevices()
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	var have []string
	for _, d := range devs {
		if strings.HasSuffix(d.Name, want) { // /job:localhost/replica:0/task:0/device:GPU:0
			return nil
		}
		have = append(have, d.Type)
	}
	return fmt.Errorf("%w: device %q: TensorFlow sees no such device (it has %s); "+
		"use --device cpu, or a cuda:N that exists with a TensorFlow built for GPUs (the tensorflow-cpu wheel has none)",
		ErrOptions, name, strings.Join(have, ", "))
}

// output finds tensor "node:i" of g.
func output(g *tensorflow.Graph, name string) (tensorflow.Output, error) {
	node, i, err := splitTensorName(name)
	if err != nil {
		return tensorflow.Output{}, err
	}
	op := g.Operation(node)
	if op == nil {
		return tensorflow.Output{}, fmt.Errorf("the imported graph has no node %q", node)
	}
	if i >= op.NumOutputs() {
		return tensorflow.Output{}, fmt.Errorf("node %q (%s) has %d outputs, not %d", node, op.Type(), op.NumOutputs(), i+1)
	}
	return op.Output(i), nil
}

// tfShape is the tap's static shape as TensorFlow infers it.
func (b *Backbone) tfShape() ([]int, error) {
	var dims []int64
	err := guard("tap shape", func() error {
		var err error
		dims, err = b.out.Shape().ToSlice()
		return err
	})
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	return shape, nil
}

// guard runs f, turning a panic of the TensorFlow Go API or tfgo into an
// error.
func guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tf: %s: TensorFlow panicked: %v", what, r)
		}
	}()
	if err := f(); err != nil {
		return fmt.Errorf("tf: %s: %w", what, err)
	}
	return nil
}

// Input implements backbone.Backbone.
func (b *Backbone) Input() backbone.TensorSpec { return b.input }

// Tap implements backbone.Backbone.
func (b *Backbone) Tap() backbone.TensorSpec { return b.tap }

// Model is the loaded SavedModel.
func (b *Backbone) Model() *savedmodel.Model { return b.prep.Model }

// Graph is the flat graph the backbone imported into TensorFlow.
func (b *Backbone) Graph() *savedmodel.Graph { return b.prep.Graph }

// Features implements backbone.Backbone. A batch already in TensorFlow
// cannot be interrupted: when ctx ends, Features returns at once and the
// session finishes the batch in the background (Close waits for it).
func (b *Backbone) Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	raw, shape, err := feedBytes(batch, b.input)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		t   *tensor.Tensor
		err error
	}
	done := make(chan result, 1)
	b.mu.RLock()
	if b.sess == nil {
		b.mu.RUnlock()
		return nil, errClosed
	}
	go func() {
		defer b.mu.RUnlock()
		var r result
		r.err = guard("run", func() error {
			x, err := tensorflow.ReadTensor(tensorflow.DataType(b.input.DType), shape, bytes.NewReader(raw))
			if err != nil {
				return fmt.Errorf("feed: %w", err)
			}
			res, err := b.sess.Run(map[tensorflow.Output]*tensorflow.Tensor{b.in: x}, []tensorflow.Output{b.out}, nil)
			if err != nil {
				return err
			}
			r.t, err = fromTF(res[0])
			return err
		})
		done <- r
	}()
	select {
	case r := <-done:
		return r.t, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fromTF copies a fetched tensor into a host tensor.
func fromTF(t *tensorflow.Tensor) (*tensor.Tensor, error) {
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return fetchTensor(tensor.DType(t.DataType()), t.Shape(), buf.Bytes())
}

// Close implements backbone.Backbone: it waits for running batches and
// closes the session. (TensorFlow keeps the GPU memory it has taken for
// the process: its allocator never returns it.)
func (b *Backbone) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess == nil {
		return nil
	}
	err := guard("close", b.sess.Close)
	b.sess, b.graph = nil, nil
	return err
}

// RunSignature runs a signature output of the SavedModel in dir on batch
// as TensorFlow itself loads the model (tfgo.LoadModel: the original
// graph with its functions and variables, nothing flattened). It is the
// reference the flat graph is checked against; o.Tap must be empty, as a
// tap inside a function exists only in the flat graph. tfgo gives the
// session no Close: it is released when the model is garbage collected,
// so use RunSignature for checks, not in a loop.
func RunSignature(dir string, o Options, batch *tensor.Tensor) (*tensor.Tensor, error) {
	if o.Tap != "" {
		return nil, fmt.Errorf("%w: RunSignature runs a signature output, not tap %q", ErrOptions, o.Tap)
	}
	sc, p, err := prepare(dir, o) // resolves the signature, input and output
	if err != nil {
		return nil, err
	}
	sig, err := p.Model.Signature(o.Signature)
	if err != nil {
		return nil, err
	}
	inName, outName := sig.Inputs[0].Name, "" // Prepare checked: one input, the output exists
	for _, t := range sig.Outputs {
		if t.Key == o.Output || (o.Output == "" && len(sig.Outputs) == 1) {
			outName = t.Name
		}
	}
	raw, shape, err := feedBytes(batch, p.Input)
	if err != nil {
		return nil, err
	}
	var out *tensor.Tensor
	err = guard("run signature of "+dir, func() error {
		tags := o.Tags
		if len(tags) == 0 {
			tags = []string{savedmodel.DefaultTag}
		}
		m := tg.LoadModel(dir, tags, &tensorflow.SessionOptions{Config: sc.config})
		in, err := modelOp(m, inName)
		if err != nil {
			return err
		}
		fetch, err := modelOp(m, outName)
		if err != nil {
			return err
		}
		x, err := tensorflow.ReadTensor(tensorflow.DataType(p.Input.DType), shape, bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		res := m.Exec([]tensorflow.Output{fetch}, map[tensorflow.Output]*tensorflow.Tensor{in: x})
		out, err = fromTF(res[0])
		return err
	})
	return out, err
}

// modelOp is tfgo's Model.Op for a tensor name "node:i".
func modelOp(m *tg.Model, name string) (tensorflow.Output, error) {
	node, i, err := splitTensorName(name)
	if err != nil {
		return tensorflow.Output{}, err
	}
	return m.Op(node, i), nil
}
