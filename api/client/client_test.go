package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestDownloadBrokenLeavesNothing: an answer cut short mid-body is an
// error, and neither dest nor a temporary file is left (the oracle is the
// folder's listing).
func TestDownloadBrokenLeavesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 1000)) // then the handler returns: the body is cut short
	}))
	defer srv.Close()
	dir := t.TempDir()
	dest := filepath.Join(dir, "m.tar")
	if err := New(srv.URL, "").Export(context.Background(), "m", 0, dest, false); err == nil {
		t.Fatal("a cut-short export returned no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a broken export left %v", ents)
	}
}
