package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/data/images"
)

// decodeFixture: a folder of 2 classes with n images each, every image a
// distinct solid grey level, PNG and JPEG mixed.
func decodeFixture(t *testing.T, n int) (string, map[string]uint8) {
	root := t.TempDir()
	levels := map[string]uint8{}
	for c, class := range []string{"a", "b"} {
		for i := range n {
			v := uint8(c*100 + i*3)
			name := fmt.Sprintf("%03d.png", i)
			data := pngBytes(t, 5+i%3, 4, gray(v))
			if i%4 == 1 {
				name = fmt.Sprintf("%03d.jpg", i)
				data = jpegBytes(t, 6, 6, gray(v))
			}
			p := writeFile(t, filepath.Join(root, class, name), data)
			levels[p] = v
		}
	}
	return root, levels
}

func TestDecodeOrderAndValues(t *testing.T) {
	root, levels := decodeFixture(t, 13)
	ds, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var first *Decoded
	for _, workers := range []int{1, 3, 16, 0} {
		d, err := Decode(context.Background(), ds, 2, 3, 3, images.Unit, Fail, workers)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != 26 || len(d.Images) != 26*2*3*3 || len(d.Bad) != 0 {
			t.Fatalf("workers %d: %d images, %d values, bad %v", workers, d.Len(), len(d.Images), d.Bad)
		}
		for i, id := range d.IDs {
			if id != ds.Samples[i].ID || d.Index[i] != i || d.Labels[i] != ds.Samples[i].Label {
				t.Fatalf("image %d is %s, want %s", i, id, ds.Samples[i].ID)
			}
			want := float64(levels[id]) / 255
			for _, v := range d.Image(i) {
				if math.Abs(float64(v)-want) > 0.02 { // JPEG is lossy
					t.Fatalf("%s: value %v, want %v", id, v, want)
				}
			}
		}
		if first == nil {
			first = d
		} else if !reflect.DeepEqual(first, d) {
			t.Errorf("workers %d: output differs from 1 worker", workers)
		}
	}
	enc, _ := ds.Samples[5].Encoded()
	if first.Digests[5] != sha256.Sum256(enc) {
		t.Error("digest is not the SHA-256 of the encoded file")
	}
	if first.Classes[1] != "b" || first.H != 2 || first.W != 3 || first.C != 3 || first.Mode != "unit" {
		t.Errorf("header %+v", first)
	}
}

func TestDecodeBadFiles(t *testing.T) {
	root, _ := decodeFixture(t, 6)
	j := jpegBytes(t, 16, 16, gray(90))
	badJPEG := writeFile(t, filepath.Join(root, "a", "001.jpg"), j[:len(j)/2]) // truncated
	notImage := writeFile(t, filepath.Join(root, "b", "002.png"), []byte("this is not a png"))

	// Alpha: an opaque NRGBA PNG is fine; a translucent one is bad.
	alpha := func(a uint8) []byte {
		img := image.NewNRGBA(image.Rect(0, 0, 3, 3))
		for i := range 9 {
			img.SetNRGBA(i%3, i/3, color.NRGBA{200, 10, 10, a})
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	opaque := writeFile(t, filepath.Join(root, "b", "opaque.png"), alpha(255))
	translucent := writeFile(t, filepath.Join(root, "b", "translucent.png"), alpha(100))

	ds, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(context.Background(), ds, 4, 4, 3, images.Raw, Skip, 4)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != ds.Len()-3 || len(d.Bad) != 3 {
		t.Fatalf("decoded %d of %d, bad %+v", d.Len(), ds.Len(), d.Bad)
	}
	for i, want := range []string{badJPEG, notImage, translucent} {
		if d.Bad[i].Path != want || !strings.Contains(d.Bad[i].Reason, "unusable image") {
			t.Errorf("bad %d = %+v, want %s", i, d.Bad[i], want)
		}
	}
	if !strings.Contains(d.Bad[2].Reason, "transparent") {
		t.Errorf("alpha reason: %s", d.Bad[2].Reason)
	}
	for i, id := range d.IDs {
		if id == opaque && (d.Image(i)[0] != 200 || d.Image(i)[1] != 10) {
			t.Errorf("opaque alpha PNG: %v", d.Image(i)[:3])
		}
		if ds.Samples[d.Index[i]].ID != id {
			t.Errorf("index %d does not point at %s", d.Index[i], id)
		}
	}

	// Into a used buffer (garbage where the bad files' images would go):
	// the same images, in the buffer's memory; a buffer too small is
	// left alone.
	used := make([]float32, ds.Len()*4*4*3)
	for i := range used {
		used[i] = float32(i)
	}
	into, err := DecodeInto(context.Background(), used, ds, 4, 4, 3, images.Raw, Skip, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(into.Images, d.Images) || !slices.Equal(into.IDs, d.IDs) || &into.Images[0] != &used[0] {
		t.Errorf("DecodeInto a used buffer: not Decode's images, or not in the buffer")
	}
	small := make([]float32, 4*4*3)
	if into, err = DecodeInto(context.Background(), small, ds, 4, 4, 3, images.Raw, Skip, 4); err != nil || !slices.Equal(into.Images, d.Images) || small[0] != 0 {
		t.Errorf("DecodeInto a small buffer: %v", err)
	}

	// Fail names the first bad file in sample order, whatever the workers.
	for _, workers := range []int{1, 2, 8} {
		_, err := Decode(context.Background(), ds, 4, 4, 3, images.Raw, Fail, workers)
		if !errors.Is(err, ErrBadFile) || !errors.Is(err, images.ErrImage) || !strings.Contains(err.Error(), badJPEG) {
			t.Errorf("workers %d: %v", workers, err)
		}
	}

	// All bad: an error, not an empty batch.
	allBad := &Dataset{Source: "x", Classes: []string{"a"}, Samples: []Sample{{ID: notImage, Path: notImage, Record: -1}}}
	if _, err := Decode(context.Background(), allBad, 4, 4, 3, images.Raw, Skip, 1); !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), notImage) {
		t.Errorf("all bad: %v", err)
	}
}

func TestDecodeArguments(t *testing.T) {
	root, _ := decodeFixture(t, 2)
	ds, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		h, w, c int
		mode    string
		policy  BadFilePolicy
	}{
		{0, 4, 3, "raw", Skip}, {4, 4, 2, "raw", Skip}, {4, 4, 3, "imagenet", Skip}, {4, 4, 3, "raw", 9},
		{math.MaxInt32, math.MaxInt32, 3, "raw", Skip},
	} {
		if _, err := Decode(ctx, ds, tc.h, tc.w, tc.c, tc.mode, tc.policy, 1); !errors.Is(err, ErrArgument) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Decode(cancelled, ds, 4, 4, 3, "raw", Skip, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	for s, want := range map[string]BadFilePolicy{"skip": Skip, " FAIL": Fail} {
		if p, err := ParsePolicy(s); err != nil || p != want {
			t.Errorf("ParsePolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePolicy("ignore"); !errors.Is(err, ErrArgument) {
		t.Errorf("ParsePolicy(ignore): %v", err)
	}
	if Skip.String() != "skip" || Fail.String() != "fail" {
		t.Error("String")
	}
}

// Issue 22, defect 1: an image over the data set's pixel limit is a bad
// file, refused from its header: skipped and listed with the limit under
// Skip, the run's error under Fail. Picked parts keep the limit.
func TestDecodeTooManyPixels(t *testing.T) {
	root, _ := decodeFixture(t, 2)
	big := writeFile(t, filepath.Join(root, "b", "big.png"), pngBytes(t, 40, 30, gray(9)))
	ds, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds.MaxPixels = 1000
	part := ds.Pick([]int{0, 1, 2, 3, 4})
	d, err := Decode(context.Background(), part, 2, 2, 1, images.Raw, Skip, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := "40x30 is 1200 pixels, over the limit of 1000 (--max-image-pixels)"
	if d.Len() != 4 || len(d.Bad) != 1 || d.Bad[0].Path != big || !strings.Contains(d.Bad[0].Reason, want) {
		t.Errorf("%d decoded, bad %+v; want %s listed saying %q", d.Len(), d.Bad, big, want)
	}
	_, err = Decode(context.Background(), part, 2, 2, 1, images.Raw, Fail, 2)
	if !errors.Is(err, ErrBadFile) || !errors.Is(err, images.ErrTooLarge) || !strings.Contains(err.Error(), want) {
		t.Errorf("policy fail: %v; want ErrBadFile, ErrTooLarge, %q", err, want)
	}
	ds.MaxPixels = 1200
	if d, err := Decode(context.Background(), ds, 2, 2, 1, images.Raw, Fail, 2); err != nil || d.Len() != 5 {
		t.Errorf("at the limit: %v", err)
	}
}

// Reopening a run's data (issue 22, defect 13): with OutsideIsBad a file
// swapped for a link out of the roots stays a sample and is a bad file
// when read, and a Gone sample is always a bad file; without it Open
// refuses the link, as for new data.
func TestOutsideIsBadAndGone(t *testing.T) {
	inside, outside := t.TempDir(), t.TempDir()
	root := filepath.Join(inside, "data")
	for _, c := range []string{"a", "b"} {
		writeFile(t, filepath.Join(root, c, "ok.png"), pngBytes(t, 2, 2, gray(2)))
	}
	secret := writeFile(t, filepath.Join(outside, "secret.png"), pngBytes(t, 2, 2, gray(7)))
	link := filepath.Join(root, "b", "link.png")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	roots := []string{mustEval(t, inside)}
	if _, err := Open(root, Options{Roots: roots}); !errors.Is(err, ErrOutsideRoots) {
		t.Fatalf("new data with a link out: %v", err)
	}
	ds, err := Open(root, Options{Roots: roots, OutsideIsBad: true})
	if err != nil {
		t.Fatal(err)
	}
	ds.Samples = append(ds.Samples, Gone(filepath.Join(root, "a", "deleted.png")))
	d, err := Decode(context.Background(), ds, 2, 2, 1, images.Raw, Skip, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || len(d.Bad) != 2 || d.Bad[0].Path != link || !strings.Contains(d.Bad[0].Reason, "outside") || strings.Contains(d.Bad[0].Reason, secret) ||
		!strings.Contains(d.Bad[1].Reason, "no longer among the data's files") {
		t.Errorf("%d decoded, bad %+v; want the link (outside, its target unnamed) and the deleted file", d.Len(), d.Bad)
	}
	if n := ds.Counts(); n[0] != 1 || n[1] != 2 {
		t.Errorf("counts %v: a Gone sample is in no class", n)
	}
}
