package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// ErrFormat reports a file that is not a valid float32 safetensors file.
var ErrFormat = errors.New("safetensors: invalid file")

// maxHeader bounds the JSON header; real headers are kilobytes.
const maxHeader = 64 << 20

// Tensor is one named float32 tensor.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

type entry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// Write encodes tensors (data in the given order) and string metadata.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	off := 0
	for _, t := range tensors {
		if t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: tensor %q written twice", t.Name)
		}
		if n := numElements(t.Shape); n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q has %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
		header[t.Name] = entry{DType: "F32", Shape: nonNil(t.Shape), Offsets: [2]int{off, off + 4*len(t.Data)}}
		off += 4 * len(t.Data)
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	// Pad the header with spaces so that the data starts 8-byte aligned.
	js = append(js, bytes.Repeat([]byte(" "), (8-len(js)%8)%8)...)
	buf := make([]byte, 8, 8+len(js)+off)
	binary.LittleEndian.PutUint64(buf, uint64(len(js)))
	buf = append(buf, js...)
	for _, t := range tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	_, err = w.Write(buf)
	return err
}

// File is a decoded safetensors file.
type File struct {
	Tensors  map[string]Tensor
	Metadata map[string]string
}

// Read decodes a whole file's bytes.
func Read(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes is too short for a header (file truncated?)", ErrFormat, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: header length %d does not fit a file of %d bytes (file truncated or not safetensors)", ErrFormat, n, len(b))
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	data := b[8+n:]
	f := &File{Tensors: map[string]Tensor{}, Metadata: map[string]string{}}
	type span struct {
		name       string
		start, end int
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("%w: metadata: %v", ErrFormat, err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
		}
		if e.DType != "F32" {
			return nil, fmt.Errorf("%w: tensor %q has dtype %s; graft stores F32 only", ErrFormat, name, e.DType)
		}
		start, end := e.Offsets[0], e.Offsets[1]
		elems := numElements(e.Shape)
		if start < 0 || end < start || end > len(data) || elems < 0 || end-start != 4*elems {
			return nil, fmt.Errorf("%w: tensor %q: bytes [%d, %d) of %d for shape %v (file truncated?)", ErrFormat, name, start, end, len(data), e.Shape)
		}
		vals := make([]float32, elems)
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[start+4*i:]))
		}
		f.Tensors[name] = Tensor{Name: name, Shape: e.Shape, Data: vals}
		spans = append(spans, span{name, start, end})
	}
	// The byte ranges must tile the data exactly: overlap or gaps mean a
	// damaged or hand-edited file.
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	pos := 0
	for _, s := range spans {
		if s.start != pos {
			return nil, fmt.Errorf("%w: tensor %q starts at byte %d, expected %d", ErrFormat, s.name, s.start, pos)
		}
		pos = s.end
	}
	if pos != len(data) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the last tensor", ErrFormat, len(data)-pos)
	}
	return f, nil
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return -1 // negative or absurd: no real tensor has it
		}
		n *= d
	}
	return n
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}
