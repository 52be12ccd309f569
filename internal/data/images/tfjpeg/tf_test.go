//go:build tensorflow

package tfjpeg

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// The oracle (make test-tf): Python TensorFlow writes a corpus of JPEGs
// with its own encoder and Pillow's (scripts/python/jpeg_corpus.py), and
// decodes each with tf.io.decode_jpeg(contents, channels=0) and with
// channels=1; Decode and DecodeGray must give the same bytes. The real
// JPEGs of TensorFlow's and Go's sources join the corpus, and
// GRAFT_JPEG_REAL (paths, colon-separated) adds more.
func TestDecodeMatchesTensorFlow(t *testing.T) {
	py := testmodules.PythonTF(t)
	dir := t.TempDir()
	args := []string{"../../../../scripts/python/jpeg_corpus.py", dir}
	args = append(args, realJPEGs(t)...)
	if real := os.Getenv("GRAFT_JPEG_REAL"); real != "" {
		args = append(args, strings.Split(real, ":")...)
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("jpeg_corpus.py: %v\n%s", err, out)
	}
	var manifest []struct {
		Name                    string
		Height, Width, Channels int
		Error                   string
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) < 100 {
		t.Fatalf("corpus of %d images: expected the whole corpus", len(manifest))
	}
	same, goSame, unsupported, refused := 0, 0, 0, 0
	incomplete, worstIncomplete := 0, 0
	for _, m := range manifest {
		jpg, err := os.ReadFile(filepath.Join(dir, m.Name+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := Decode(jpg)
		if m.Error != "" { // a real file TensorFlow refuses
			refused++
			if err == nil {
				t.Errorf("%s: TensorFlow refuses it (%s), Decode does not", m.Name, m.Error)
			}
			continue
		}
		if errors.Is(err, ErrUnsupported) && strings.HasPrefix(m.Name, "real_") {
			unsupported++
			t.Logf("%s: %v", m.Name, err)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, m.Name+".tf"))
		if err != nil {
			t.Fatal(err)
		}
		// Go's image/jpeg, for contrast: what graft decoded before.
		if g, err := jpeg.Decode(bytes.NewReader(jpg)); err == nil {
			if gp, gc := goPixels(g); gc == m.Channels && bytes.Equal(gp, want) {
				goSame++
			}
		}
		rows, err := DecodeRows(jpg, false)
		if err != nil {
			t.Fatalf("%s: Decode decodes it, DecodeRows: %v", m.Name, err)
		}
		got, c := pixels(img)
		if c != m.Channels || img.Bounds().Dx() != m.Width || img.Bounds().Dy() != m.Height {
			t.Errorf("%s: %dx%dx%d, TensorFlow %dx%dx%d", m.Name, img.Bounds().Dx(), img.Bounds().Dy(), c, m.Width, m.Height, m.Channels)
			continue
		}
		diff, maxd, first := 0, 0, -1
		for i := range want {
			if d := int(got[i]) - int(want[i]); d != 0 {
				diff++
				maxd = max(maxd, d, -d)
				if first < 0 {
					first = i
				}
			}
		}
		if want1, err := os.ReadFile(filepath.Join(dir, m.Name+".tf1")); err != nil {
			// TensorFlow refuses channels=1 (CMYK): so must DecodeGray.
			if _, err := DecodeGray(jpg); !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: TensorFlow refuses channels=1; DecodeGray: %v", m.Name, err)
			}
		} else if g, err := DecodeGray(jpg); err != nil {
			t.Errorf("%s: DecodeGray: %v", m.Name, err)
		} else if got1, _ := pixels(g); !bytes.Equal(got1, want1) && !known[realName(m.Name)] && !strings.HasPrefix(m.Name, "incomplete_") {
			n := 0
			for i := range got1 {
				if got1[i] != want1[i] {
					n++
				}
			}
			t.Errorf("%s: DecodeGray: %d of %d bytes differ from tf.io.decode_jpeg(channels=1)", m.Name, n, len(want1))
		}
		// A file that differs is one Smoothed owns to (or a known
		// corrupt one); Smoothed files may still match (1x1: no
		// neighbours to smooth with).
		if diff > 0 && !rows.Smoothed() && realName(m.Name) != "bad_huffman.jpg" {
			t.Errorf("%s: %d bytes differ from TensorFlow's, and Smoothed() is false", m.Name, diff)
		}
		if strings.HasPrefix(m.Name, "incomplete_") && !rows.Smoothed() {
			t.Errorf("%s: Smoothed() is false for a progressive file cut between scans", m.Name)
		}
		if strings.HasPrefix(m.Name, "incomplete_") {
			incomplete++
			worstIncomplete = max(worstIncomplete, maxd)
			if diff > 0 {
				t.Logf("%s: %d of %d bytes differ from tf.io.decode_jpeg, by at most %d (block smoothing)", m.Name, diff, len(want), maxd)
			} else {
				same++
			}
			continue
		}
		if diff > 0 && known[realName(m.Name)] {
			t.Logf("%s: %d of %d bytes differ from tf.io.decode_jpeg, by at most %d (known: see known)", m.Name, diff, len(want), maxd)
			continue
		}
		if diff > 0 {
			px := first / c
			t.Errorf("%s: %d of %d bytes differ from tf.io.decode_jpeg (at most by %d; first at x=%d y=%d channel %d)", m.Name, diff, len(want), maxd, px%m.Width, px/m.Width, first%c)
			continue
		}
		same++
	}
	t.Logf("%d of %d JPEGs decoded to TensorFlow's bytes (Go's image/jpeg: %d); %d refused by TensorFlow, %d unsupported here; %d progressive files cut between scans, at most %d levels from TensorFlow's", same, len(manifest), goSame, refused, unsupported, incomplete, worstIncomplete)
}

// known are real files of the corpus whose bytes differ from TensorFlow's,
// logged rather than failed: libjpeg's recovery from corrupt entropy-coded
// data (a bad Huffman code, TensorFlow's own test file), and its block
// smoothing of a progressive JPEG whose scans stop before every
// coefficient is complete (Go's test file: libjpeg estimates the missing
// low-frequency coefficients from the neighbouring blocks' DC).
var known = map[string]bool{
	"bad_huffman.jpg":                      true,
	"video-001.progressive.truncated.jpeg": true,
}

// realName is the file name of a real JPEG's case ("real_N_NAME").
func realName(name string) string {
	if rest, ok := strings.CutPrefix(name, "real_"); ok {
		_, file, _ := strings.Cut(rest, "_")
		return file
	}
	return ""
}

// realJPEGs are the photographs and test files of TensorFlow's sources
// (a test module) and of Go's image/jpeg.
func realJPEGs(t *testing.T) []string {
	var files []string
	for _, root := range []string{testmodules.Dir(t, testmodules.TensorFlow), filepath.Join(runtime.GOROOT(), "src", "image", "testdata")} {
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if ext := strings.ToLower(filepath.Ext(p)); err == nil && !e.IsDir() && (ext == ".jpg" || ext == ".jpeg") {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) < 50 {
		t.Fatalf("%d real JPEGs in TensorFlow's and Go's sources: expected more than 50", len(files))
	}
	return files
}

// pixels is img's HWC bytes and channel count.
func pixels(img image.Image) ([]uint8, int) {
	switch p := img.(type) {
	case *image.Gray:
		w, h := p.Rect.Dx(), p.Rect.Dy()
		out := make([]uint8, 0, w*h)
		for y := 0; y < h; y++ {
			out = append(out, p.Pix[y*p.Stride:y*p.Stride+w]...)
		}
		return out, 1
	case *RGB:
		w, h := p.Rect.Dx(), p.Rect.Dy()
		out := make([]uint8, 0, 3*w*h)
		for y := 0; y < h; y++ {
			out = append(out, p.Pix[y*p.Stride:y*p.Stride+3*w]...)
		}
		return out, 3
	}
	panic("unexpected image type")
}

// goPixels is an image/jpeg image's HWC bytes and channel count.
func goPixels(img image.Image) ([]uint8, int) {
	b := img.Bounds()
	if img.ColorModel() == color.GrayModel {
		out := make([]uint8, 0, b.Dx()*b.Dy())
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				out = append(out, color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
			}
		}
		return out, 1
	}
	out := make([]uint8, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		}
	}
	return out, 3
}
