package daemon_test

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/daemon"
)

// tarFiles reads a tar archive's regular files by name.
func tarFiles(t *testing.T, body []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(body))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
}

// TestExportTFLite: ?format=tflite builds the run as graft export
// --format tflite does, keeps it beside the SavedModel's folder, sends it
// as NAME/V/model.tflite, and goes with the version when it is deleted;
// bad parameters are 400.
func TestExportTFLite(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainModel(t, s, f, "digits")

	sizes := map[string]int{}
	for query, kept := range map[string]string{"?format=tflite": "1.tflite", "?format=tflite&quantize=float16": "1.tflite-float16"} {
		resp, body := exportReq(t, s, "/v1/models/digits:export"+query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %.300s", query, resp.StatusCode, body)
		}
		files := tarFiles(t, body)
		b := files["digits/1/"+"model.tflite"]
		if len(files) != 1 || len(b) < 8 || string(b[4:8]) != "TFL3" {
			t.Fatalf("%s: archive holds %d files; model.tflite %d bytes", query, len(files), len(b))
		}
		if want, err := os.ReadFile(filepath.Join(s.dir, "exports", "digits", kept, "model.tflite")); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: the archive's file differs from the kept one (%v)", query, err)
		}
		sizes[query] = len(b)
	}
	if sizes["?format=tflite&quantize=float16"] >= sizes["?format=tflite"] {
		t.Errorf("float16 file %v bytes: not smaller than float32", sizes)
	}
	for _, query := range []string{"?format=coreml", "?quantize=float16", "?format=tflite&quantize=int4"} {
		if resp, b := exportReq(t, s, "/v1/models/digits:export"+query); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", query, resp.StatusCode, b)
		}
	}
	if code := deleteReq(t, s, "/v1/models/digits/versions/1"); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if left, _ := os.ReadDir(filepath.Join(s.dir, "exports")); len(left) != 0 {
		t.Errorf("exports left after the version was deleted: %v", left)
	}
}
