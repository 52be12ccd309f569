package tfevents

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/graft-ml/graft/internal/util/tfrecord"
)

var (
	// ErrClosed: the writer was closed.
	ErrClosed = errors.New("tfevents: writer is closed")
	// ErrTag: an empty scalar tag.
	ErrTag = errors.New("tfevents: invalid tag")
)

// FileVersion is what the first event of every file says, as TensorFlow's
// EventsWriter writes it.
const FileVersion = "brain.Event:2"

// Event and Summary field numbers (tensorflow/core/util/event.proto,
// tensorflow/core/framework/summary.proto).
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string (oneof what)
	eventSummary     = 5 // Summary (oneof what)
	summaryValue     = 1 // repeated Summary.Value
	valueTag         = 1 // string
	valueSimple      = 2 // float (oneof value)
	valueTensor      = 8 // TensorProto (oneof value)
	valueMetadata    = 9 // SummaryMetadata
	metaPluginData   = 1 // SummaryMetadata.PluginData
	pluginName       = 1 // string
	tensorDtype      = 1 // DataType enum
	tensorShape      = 2 // TensorShapeProto (empty: a scalar)
	tensorStringVal  = 8 // repeated bytes
	dtString         = 7 // DT_STRING
)

// Writer appends events to one event file. Its methods are safe for
// concurrent use.
type Writer struct {
	mu   sync.Mutex
	path string
	f    *os.File
	buf  *bufio.Writer
	rec  *tfrecord.Writer
}

// NewWriter creates dir if needed and a new event file in it, named
// events.out.tfevents.<unix seconds>.<hostname> (with a .N suffix if that
// name is taken), and writes the file-version event.
func NewWriter(dir string) (*Writer, error) {
	return newWriter(dir, time.Now())
}

func newWriter(dir string, now time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tfevents: create %s: %w", dir, err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, host)
	base := filepath.Join(dir, "events.out.tfevents."+strconv.FormatInt(now.Unix(), 10)+"."+host)
	var f *os.File
	path := base
	for i := 1; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil || !errors.Is(err, os.ErrExist) || i > 1000 {
			break
		}
		path = base + "." + strconv.Itoa(i)
	}
	if err != nil {
		return nil, fmt.Errorf("tfevents: create event file in %s: %w", dir, err)
	}
	w := &Writer{path: path, f: f, buf: bufio.NewWriter(f)}
	w.rec = tfrecord.NewWriter(w.buf)
	var ev []byte
	ev = appendWallTime(ev, now)
	ev = protowire.AppendTag(ev, eventFileVersion, protowire.BytesType)
	ev = protowire.AppendString(ev, FileVersion)
	if err := w.rec.Write(ev); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("tfevents: write %s: %w", path, err)
	}
	if err := w.buf.Flush(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("tfevents: write %s: %w", path, err)
	}
	return w, nil
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

func appendWallTime(b []byte, t time.Time) []byte {
	b = protowire.AppendTag(b, eventWallTime, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(float64(t.Unix())+float64(t.Nanosecond())/1e9))
}

// Scalar records value under tag at step, stamped with wall (TensorBoard's
// "relative" and "wall" axes). The value is stored as a float32
// (simple_value), as tf.summary does for scalars in TF1 style.
func (w *Writer) Scalar(tag string, step int64, value float64, wall time.Time) error {
	if tag == "" {
		return fmt.Errorf("%w: empty tag (use names such as loss, val_accuracy)", ErrTag)
	}
	var val []byte
	val = protowire.AppendTag(val, valueTag, protowire.BytesType)
	val = protowire.AppendString(val, tag)
	val = protowire.AppendTag(val, valueSimple, protowire.Fixed32Type)
	val = protowire.AppendFixed32(val, math.Float32bits(float32(value)))
	return w.write(step, wall, val)
}

// Text records text (markdown, as TensorBoard's text plugin renders it)
// under tag at step: a scalar DT_STRING tensor whose metadata names the
// "text" plugin, as tf.summary.text writes it.
func (w *Writer) Text(tag string, step int64, text string, wall time.Time) error {
	if tag == "" {
		return fmt.Errorf("%w: empty tag (use names such as config)", ErrTag)
	}
	var plugin []byte
	plugin = protowire.AppendTag(plugin, pluginName, protowire.BytesType)
	plugin = protowire.AppendString(plugin, "text")
	var meta []byte
	meta = protowire.AppendTag(meta, metaPluginData, protowire.BytesType)
	meta = protowire.AppendBytes(meta, plugin)
	var tensor []byte
	tensor = protowire.AppendTag(tensor, tensorDtype, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, dtString)
	tensor = protowire.AppendTag(tensor, tensorShape, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, nil)
	tensor = protowire.AppendTag(tensor, tensorStringVal, protowire.BytesType)
	tensor = protowire.AppendString(tensor, text)
	var val []byte
	val = protowire.AppendTag(val, valueTag, protowire.BytesType)
	val = protowire.AppendString(val, tag)
	val = protowire.AppendTag(val, valueMetadata, protowire.BytesType)
	val = protowire.AppendBytes(val, meta)
	val = protowire.AppendTag(val, valueTensor, protowire.BytesType)
	val = protowire.AppendBytes(val, tensor)
	return w.write(step, wall, val)
}

// write appends an event holding one Summary.Value.
func (w *Writer) write(step int64, wall time.Time, val []byte) error {
	var sum []byte
	sum = protowire.AppendTag(sum, summaryValue, protowire.BytesType)
	sum = protowire.AppendBytes(sum, val)
	var ev []byte
	ev = appendWallTime(ev, wall)
	ev = protowire.AppendTag(ev, eventStep, protowire.VarintType)
	ev = protowire.AppendVarint(ev, uint64(step))
	ev = protowire.AppendTag(ev, eventSummary, protowire.BytesType)
	ev = protowire.AppendBytes(ev, sum)

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	if err := w.rec.Write(ev); err != nil {
		return fmt.Errorf("tfevents: write %s: %w", w.path, err)
	}
	return nil
}

// Flush hands buffered events to the operating system, so that a running
// TensorBoard sees them.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("tfevents: write %s: %w", w.path, err)
	}
	return nil
}

// Close flushes, fsyncs and closes the file. Closing twice returns
// ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	f := w.f
	w.f = nil
	err := w.buf.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tfevents: close %s: %w", w.path, err)
	}
	return nil
}
