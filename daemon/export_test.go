package daemon_test

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/daemon"
)

// exportReq posts path with an empty JSON object and returns the answer.
func exportReq(t *testing.T, s *testServer, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Base+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestExportDownload: :export writes the SavedModel inside the data
// directory and sends it as a tar archive in TensorFlow Serving's layout
// (NAME/VERSION/...), which graft's reader loads with both signatures.
func TestExportDownload(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainModel(t, s, f, "digits")

	resp, body := exportReq(t, s, "/v1/models/digits:export")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("export: %d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	kept := filepath.Join(s.dir, "exports", "digits", "1")
	out := t.TempDir()
	var names []string
	tr := tar.NewReader(bytes.NewReader(body))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, _ := io.ReadAll(tr)
		rel := strings.TrimPrefix(h.Name, "digits/1/")
		if want, err := os.ReadFile(filepath.Join(kept, rel)); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %d bytes in the archive, the data directory's copy: %v", h.Name, len(b), err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(out, h.Name)), 0o755)
		os.WriteFile(filepath.Join(out, h.Name), b, 0o644)
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); !strings.Contains(got, "digits/1/saved_model.pb") || !strings.Contains(got, "digits/1/variables/variables.index") {
		t.Fatalf("archive holds %s", got)
	}
	m, err := savedmodel.Load(filepath.Join(out, "digits", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if keys := strings.Join(m.SignatureKeys(), " "); keys != "serving_bytes serving_default" {
		t.Errorf("signatures %s", keys)
	}

	// The same version again: the kept export, byte for byte.
	if resp, again := exportReq(t, s, "/v1/models/digits/versions/1:export"); resp.StatusCode != http.StatusOK || !bytes.Equal(again, body) {
		t.Errorf("second export: %d, %d bytes (first %d)", resp.StatusCode, len(again), len(body))
	}
	for path, code := range map[string]int{"/v1/models/nothing:export": 404, "/v1/models/digits/versions/7:export": 404, "/v1/models/digits:exports": 404} {
		if resp, b := exportReq(t, s, path); resp.StatusCode != code {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, b, code)
		}
	}
}

// TestExportONNXDownload: :export?format=onnx keeps the ONNX file under
// exports/NAME/V.onnx/ and sends it as NAME/V/model.onnx (Triton's model
// repository layout); an unknown format is a 400; deleting the version
// removes the ONNX export too.
func TestExportONNXDownload(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainModel(t, s, f, "digits")

	resp, body := exportReq(t, s, "/v1/models/digits:export?format=onnx")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "digits-1.onnx.tar") {
		t.Fatalf("export: %d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}
	kept := filepath.Join(s.dir, "exports", "digits", "1.onnx", "model.onnx")
	want, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(body))
	var files []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, h.Name)
			b, _ := io.ReadAll(tr)
			// ModelProto field 1 (ir_version, varint) = 8 comes first.
			if !bytes.Equal(b, want) || len(b) < 2 || b[0] != 0x08 || b[1] != 8 {
				t.Errorf("%s: %d bytes, the kept copy %d", h.Name, len(b), len(want))
			}
		}
	}
	if strings.Join(files, " ") != "digits/1/model.onnx" {
		t.Errorf("archive holds %v", files)
	}
	if resp, b := exportReq(t, s, "/v1/models/digits:export?format=pt"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "onnx") {
		t.Errorf("format=pt: %d %s", resp.StatusCode, b)
	}
	if code := deleteReq(t, s, "/v1/models/digits/versions/1"); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if _, err := os.Stat(filepath.Dir(kept)); !os.IsNotExist(err) {
		t.Errorf("after the delete, %s: %v", filepath.Dir(kept), err)
	}
}
