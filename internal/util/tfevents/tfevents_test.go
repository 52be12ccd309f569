package tfevents

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/galeone/tensorflow/tensorflow/go/core/framework/summary_go_proto"
	"github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/internal/util/tfrecord"
)

// event is the wrapper's fields, parsed by hand here; the Summary inside
// is decoded with TensorFlow's generated proto.
type event struct {
	wallTime    float64
	step        int64
	fileVersion string
	summary     *summary_go_proto.Summary
}

func readEvents(t *testing.T, path string) []event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r := tfrecord.NewReader(f, st.Size())
	var out []event
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var ev event
		for len(rec) > 0 {
			num, typ, n := protowire.ConsumeTag(rec)
			if n < 0 {
				t.Fatal(protowire.ParseError(n))
			}
			rec = rec[n:]
			switch {
			case num == 1 && typ == protowire.Fixed64Type:
				v, n := protowire.ConsumeFixed64(rec)
				ev.wallTime, rec = math.Float64frombits(v), rec[n:]
			case num == 2 && typ == protowire.VarintType:
				v, n := protowire.ConsumeVarint(rec)
				ev.step, rec = int64(v), rec[n:]
			case num == 3 && typ == protowire.BytesType:
				v, n := protowire.ConsumeString(rec)
				ev.fileVersion, rec = v, rec[n:]
			case num == 5 && typ == protowire.BytesType:
				v, n := protowire.ConsumeBytes(rec)
				ev.summary = &summary_go_proto.Summary{}
				if err := proto.Unmarshal(v, ev.summary); err != nil {
					t.Fatalf("Summary: %v", err)
				}
				rec = rec[n:]
			default:
				t.Fatalf("unexpected Event field %d type %d", num, typ)
			}
		}
		out = append(out, ev)
	}
}

func TestScalars(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "tb")
	start := time.Now()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^events\.out\.tfevents\.\d{10}\.[^/]+$`).MatchString(filepath.Base(w.Path())) || filepath.Dir(w.Path()) != dir {
		t.Fatalf("file name %s", w.Path())
	}
	wall := time.Date(2025, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	scalars := []struct {
		tag   string
		step  int64
		value float64
	}{{"loss", 1, 0.693}, {"accuracy", 1, 0.5}, {"loss", 2, 0.25}, {"lr", 1 << 40, 1e-3}, {"nan", 3, math.NaN()}}
	for _, s := range scalars {
		if err := w.Scalar(s.tag, s.step, s.value, wall); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := readEvents(t, w.Path()); len(got) != 1+len(scalars) {
		t.Fatalf("after Flush: %d events", len(got))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	evs := readEvents(t, w.Path())
	head := evs[0]
	if head.fileVersion != "brain.Event:2" || head.summary != nil || head.step != 0 {
		t.Errorf("first event %+v", head)
	}
	if head.wallTime < float64(start.Unix())-1 || head.wallTime > float64(time.Now().Unix())+1 {
		t.Errorf("first event wall time %v", head.wallTime)
	}
	for i, s := range scalars {
		ev := evs[i+1]
		if ev.wallTime != 1740830400.5 || ev.step != s.step || ev.fileVersion != "" {
			t.Errorf("event %d: %+v", i, ev)
		}
		vals := ev.summary.GetValue()
		if len(vals) != 1 || vals[0].GetTag() != s.tag {
			t.Fatalf("event %d summary %v", i, ev.summary)
		}
		if _, ok := vals[0].GetValue().(*summary_go_proto.Summary_Value_SimpleValue); !ok {
			t.Errorf("event %d: value is %T, want simple_value", i, vals[0].GetValue())
		}
		got, want := vals[0].GetSimpleValue(), float32(s.value)
		if got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
			t.Errorf("event %d: %v, want %v", i, got, want)
		}
	}

	if err := w.Scalar("loss", 9, 1, wall); !errors.Is(err, ErrClosed) {
		t.Errorf("Scalar after Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestText decodes a text summary with TensorFlow's generated protos: a
// scalar DT_STRING tensor tagged for TensorBoard's text plugin.
func TestText(t *testing.T) {
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const md = "## config\n\n```json\n{\"tap\": \"conv2d_2\", \"note\": \"é\"}\n```"
	if err := w.Text("config", 0, md, wall); err != nil {
		t.Fatal(err)
	}
	if err := w.Text("", 0, "x", wall); !errors.Is(err, ErrTag) {
		t.Errorf("empty tag: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, w.Path())
	if len(evs) != 2 {
		t.Fatalf("%d events, want the file version and one text", len(evs))
	}
	vals := evs[1].summary.GetValue()
	if len(vals) != 1 || vals[0].GetTag() != "config" || evs[1].step != 0 || evs[1].wallTime != 1740830400 {
		t.Fatalf("event %+v", evs[1])
	}
	if p := vals[0].GetMetadata().GetPluginData().GetPluginName(); p != "text" {
		t.Errorf("plugin %q, want text", p)
	}
	tp := vals[0].GetTensor()
	if tp.GetDtype() != types_go_proto.DataType_DT_STRING || len(tp.GetTensorShape().GetDim()) != 0 {
		t.Errorf("tensor dtype %v shape %v, want a DT_STRING scalar", tp.GetDtype(), tp.GetTensorShape())
	}
	if sv := tp.GetStringVal(); len(sv) != 1 || string(sv[0]) != md {
		t.Errorf("string_val %q", sv)
	}
}

func TestNamesDoNotCollide(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1700000000, 0)
	a, err := newWriter(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newWriter(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Path() == b.Path() || filepath.Base(b.Path()) != filepath.Base(a.Path())+".1" {
		t.Errorf("paths %s %s", a.Path(), b.Path())
	}
	a.Close()
	b.Close()
	if evs := readEvents(t, a.Path()); len(evs) != 1 || evs[0].wallTime != 1700000000 {
		t.Errorf("events %+v", evs)
	}
}

func TestErrors(t *testing.T) {
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Scalar("", 1, 1, time.Now()); !errors.Is(err, ErrTag) {
		t.Errorf("empty tag: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := NewWriter(file); err == nil {
		t.Error("NewWriter on a file: no error")
	}
}

func TestConcurrentScalars(t *testing.T) {
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := w.Scalar("t", int64(g*100+i), float64(i), time.Now()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(readEvents(t, w.Path())); n != 201 {
		t.Errorf("%d events, want 201", n)
	}
}
