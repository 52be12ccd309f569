package dataset

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/graft-ml/graft/internal/util/tfrecord"
)

func TestExampleRoundTrip(t *testing.T) {
	b := EncodeExample([]byte("\x89PNG..."), 7, "seven")
	ex, err := DecodeExample(b)
	if err != nil {
		t.Fatal(err)
	}
	img, err := exampleImage(ex)
	if err != nil || string(img) != "\x89PNG..." {
		t.Fatalf("image %q %v", img, err)
	}
	label, text, err := exampleLabel(ex)
	if err != nil || label != 7 || text != "seven" {
		t.Fatalf("label %d %q %v", label, text, err)
	}
	// Without text there is no text feature; negative labels survive.
	ex, _ = DecodeExample(EncodeExample(nil, -3, ""))
	if _, ok := ex[FeatureText]; ok || ex[FeatureLabel].Int64s[0] != -3 || len(ex[FeatureEncoded].Bytes) != 1 {
		t.Errorf("no-text example %+v", ex)
	}
	// Floats and several values.
	full := Example{"f": {Floats: []float32{1.5, -2}}, "i": {Int64s: []int64{1, 1 << 40}}, "b": {Bytes: [][]byte{[]byte("x"), {}}}}
	got, err := DecodeExample(full.Marshal())
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Errorf("round trip: %+v %v", got, err)
	}
}

// TestExampleWireLayout checks the bytes against the layout of
// tf.train.Example written by hand, field by field.
func TestExampleWireLayout(t *testing.T) {
	got := EncodeExample([]byte{0xff}, 300, "")
	entry := func(key string, feature []byte) []byte {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, key)
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		return protowire.AppendBytes(e, feature)
	}
	// Feature{bytes_list(1): BytesList{value(1): "\xff"}}
	bytesFeature := []byte{0x0a, 0x03, 0x0a, 0x01, 0xff}
	// Feature{int64_list(3): Int64List{value(1) packed: [300]}}
	int64Feature := []byte{0x1a, 0x04, 0x0a, 0x02, 0xac, 0x02}
	var features []byte
	for _, e := range [][]byte{entry("image/class/label", int64Feature), entry("image/encoded", bytesFeature)} {
		features = protowire.AppendTag(features, 1, protowire.BytesType)
		features = protowire.AppendBytes(features, e)
	}
	want := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), features)
	if string(got) != string(want) {
		t.Errorf("wire bytes\n got %x\nwant %x", got, want)
	}
}

func TestExampleUnpackedAndUnknown(t *testing.T) {
	// Int64List with unpacked values, FloatList unpacked, plus unknown
	// fields everywhere: all accepted.
	var ints []byte
	ints = protowire.AppendTag(ints, 1, protowire.VarintType)
	ints = protowire.AppendVarint(ints, 4)
	ints = protowire.AppendTag(ints, 1, protowire.VarintType)
	ints = protowire.AppendVarint(ints, 5)
	var floats []byte
	floats = protowire.AppendTag(floats, 1, protowire.Fixed32Type)
	floats = protowire.AppendFixed32(floats, math.Float32bits(0.25))
	feature := func(kind protowire.Number, list []byte) []byte {
		f := protowire.AppendTag(nil, kind, protowire.BytesType)
		f = protowire.AppendBytes(f, list)
		f = protowire.AppendTag(f, 9, protowire.VarintType) // unknown
		return protowire.AppendVarint(f, 1)
	}
	entry := func(key string, feat []byte) []byte {
		e := protowire.AppendTag(nil, 1, protowire.BytesType)
		e = protowire.AppendString(e, key)
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		return protowire.AppendBytes(e, feat)
	}
	var features []byte
	for _, e := range [][]byte{entry("ints", feature(3, ints)), entry("floats", feature(2, floats))} {
		features = protowire.AppendTag(features, 1, protowire.BytesType)
		features = protowire.AppendBytes(features, e)
	}
	msg := protowire.AppendTag(nil, 1, protowire.BytesType)
	msg = protowire.AppendBytes(msg, features)
	msg = protowire.AppendTag(msg, 15, protowire.Fixed64Type)
	msg = protowire.AppendFixed64(msg, 1)
	ex, err := DecodeExample(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex["ints"].Int64s, []int64{4, 5}) || !reflect.DeepEqual(ex["floats"].Floats, []float32{0.25}) {
		t.Errorf("decoded %+v", ex)
	}
	for _, bad := range [][]byte{{0x0a, 0x05, 0x01}, {0x0a}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := DecodeExample(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("malformed %x: %v", bad, err)
		}
	}
}

func TestTFRecord(t *testing.T) {
	dir := t.TempDir()
	imgs := [][]byte{pngBytes(t, 2, 2, gray(0)), jpegBytes(t, 2, 2, gray(255)), pngBytes(t, 2, 2, gray(128))}
	a := writeRecords(t, filepath.Join(dir, "train-0.tfrecord"), [][]byte{
		EncodeExample(imgs[0], 5, "five"),
		EncodeExample(imgs[1], 2, ""),
	})
	b := writeRecords(t, filepath.Join(dir, "train-1.tfrecord"), [][]byte{
		EncodeExample(imgs[2], 2, "two"),
		EncodeExample(imgs[0], 5, ""),
	})
	check := func(t *testing.T, ds *Dataset) {
		t.Helper()
		if ds.Kind != KindTFRecord || strings.Join(ds.Classes, ",") != "two,five" {
			t.Fatalf("kind %s classes %v", ds.Kind, ds.Classes)
		}
		wantIDs := []string{a + "#0", a + "#1", b + "#0", b + "#1"}
		wantLabels := []int{1, 0, 0, 1}
		for i, s := range ds.Samples {
			if s.ID != wantIDs[i] || s.Label != wantLabels[i] {
				t.Errorf("sample %d = %+v", i, s)
			}
		}
		for i, want := range [][]byte{imgs[0], imgs[1], imgs[2], imgs[0]} {
			got, err := ds.Samples[i].Encoded()
			if err != nil || string(got) != string(want) {
				t.Errorf("record %d: %v", i, err)
			}
		}
	}
	for _, spec := range []string{filepath.Join(dir, "train-*.tfrecord"), a + ", " + b} {
		ds, err := Open(spec, Options{})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		check(t, ds)
	}
	// A shard without an extension is sniffed.
	shard := filepath.Join(dir, "shard-00000-of-00001")
	data, _ := os.ReadFile(a)
	writeFile(t, shard, data)
	ds, err := Open(shard, Options{})
	if err != nil || ds.Len() != 2 || ds.Samples[1].ID != shard+"#1" {
		t.Fatalf("sniffed shard: %v", err)
	}
	// Single file; decoding: digests are of the encoded bytes.
	ds, err = Open(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(context.Background(), ds, 2, 2, 1, "raw", Fail, 4)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digests[0] != sha256.Sum256(imgs[2]) || d.Digests[1] != sha256.Sum256(imgs[0]) {
		t.Error("digests")
	}
	if math.Abs(float64(d.Images[0])-128) > 0.1 || d.Images[4] != 0 {
		t.Errorf("pixels %v", d.Images)
	}
}

func TestTFRecordNumericClasses(t *testing.T) {
	p := pngBytes(t, 1, 1, gray(3))
	f := writeRecords(t, filepath.Join(t.TempDir(), "d.rec"), [][]byte{
		EncodeExample(p, 10, ""), EncodeExample(p, 2, ""), EncodeExample(p, 0, ""),
	})
	ds, err := Open(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ds.Classes, ",") != "0,2,10" || ds.Samples[0].Label != 2 || ds.Samples[2].Label != 0 {
		t.Errorf("classes %v samples %+v", ds.Classes, ds.Samples)
	}
	ds, err = Open(f, Options{Classes: []string{"10", "2", "0", "7"}})
	if err != nil || ds.Samples[0].Label != 0 || ds.Samples[1].Label != 1 || len(ds.Classes) != 4 {
		t.Errorf("imposed: %v %+v", err, ds)
	}
}

func TestTFRecordErrors(t *testing.T) {
	dir := t.TempDir()
	p := pngBytes(t, 2, 2, gray(7))
	var recs [][]byte
	for i := range 6 {
		recs = append(recs, EncodeExample(p, int64(i%2), []string{"cat", "dog"}[i%2]))
	}
	full := writeRecords(t, filepath.Join(dir, "full.tfrecord"), recs)
	data, _ := os.ReadFile(full)
	trunc := writeFile(t, filepath.Join(dir, "trunc.tfrecords"), data[:len(data)-10])
	_, err := Open(trunc, Options{})
	if !errors.Is(err, tfrecord.ErrCorrupt) || !strings.Contains(err.Error(), trunc) {
		t.Errorf("truncated: %v", err)
	}
	flipped := append([]byte(nil), data...)
	flipped[40] ^= 1
	if _, err := Open(writeFile(t, filepath.Join(dir, "flip.tfrecord"), flipped), Options{}); !errors.Is(err, tfrecord.ErrCorrupt) {
		t.Errorf("bit flip: %v", err)
	}

	_, err = Open(full, Options{Classes: []string{"cat", "bird"}})
	if !errors.Is(err, ErrLabel) {
		t.Fatalf("unknown label: %v", err)
	}
	for _, s := range []string{`"dog"`, full + "#1", `"cat", "bird"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %s", err, s)
		}
	}

	noImage := writeRecords(t, filepath.Join(dir, "noimg.tfrecord"), [][]byte{(Example{"image/class/label": {Int64s: []int64{1}}, "image": {Bytes: [][]byte{p}}}).Marshal()})
	if _, err := Open(noImage, Options{}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "has image, image/class/label") {
		t.Errorf("no image/encoded: %v", err)
	}
	noLabel := writeRecords(t, filepath.Join(dir, "nolabel.tfrecord"), [][]byte{(Example{"image/encoded": {Bytes: [][]byte{p}}, "image/class/label": {Floats: []float32{1}}}).Marshal()})
	if _, err := Open(noLabel, Options{}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "1 float value") {
		t.Errorf("float label: %v", err)
	}
	conflict := writeRecords(t, filepath.Join(dir, "conflict.tfrecord"), [][]byte{EncodeExample(p, 1, "a"), EncodeExample(p, 1, "b")})
	if _, err := Open(conflict, Options{}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), conflict+"#1") {
		t.Errorf("conflicting texts: %v", err)
	}
	dup := writeRecords(t, filepath.Join(dir, "dup.tfrecord"), [][]byte{EncodeExample(p, 1, "a"), EncodeExample(p, 2, "a")})
	if _, err := Open(dup, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("two labels one name: %v", err)
	}
	empty := writeRecords(t, filepath.Join(dir, "empty.tfrecord"), nil)
	if _, err := Open(empty, Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "nothing-*.tfrecord"), Options{}); !errors.Is(err, ErrSource) {
		t.Errorf("glob without matches: %v", err)
	}
	if _, err := Open(full+","+filepath.Join(dir, "gone.tfrecord"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file in list: %v", err)
	}
}

func TestTFRecordChangedAfterOpen(t *testing.T) {
	p := pngBytes(t, 2, 2, gray(7))
	f := writeRecords(t, filepath.Join(t.TempDir(), "d.tfrecord"), [][]byte{EncodeExample(p, 0, ""), EncodeExample(p, 1, "")})
	ds, err := Open(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(f)
	writeFile(t, f, data[:len(data)-3])
	d, err := Decode(context.Background(), ds, 2, 2, 3, "raw", Skip, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 1 || len(d.Bad) != 1 || d.Bad[0].Path != f+"#1" || !strings.Contains(d.Bad[0].Reason, "corrupt record") {
		t.Errorf("decoded %d, bad %+v", d.Len(), d.Bad)
	}
	_, err = Decode(context.Background(), ds, 2, 2, 3, "raw", Fail, 2)
	if !errors.Is(err, tfrecord.ErrCorrupt) || !errors.Is(err, ErrBadFile) {
		t.Errorf("fail: %v", err)
	}
}

func FuzzDecodeExample(f *testing.F) {
	f.Add(EncodeExample([]byte("img"), 3, "three"))
	f.Add((Example{"f": {Floats: []float32{1}}, "i": {Int64s: []int64{-1, 2}}}).Marshal())
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		ex, err := DecodeExample(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error without ErrFormat: %v", err)
			}
			return
		}
		// Whatever decodes must survive the accessors and re-encoding.
		exampleImage(ex)
		exampleLabel(ex)
		if _, err := DecodeExample(ex.Marshal()); err != nil {
			t.Fatalf("re-encoded example does not decode: %v", err)
		}
	})
}
