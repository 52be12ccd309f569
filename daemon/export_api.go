package daemon

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/export"
	"github.com/graft-ml/graft/internal/export/tflite"
	"github.com/graft-ml/graft/internal/util/atomicfile"
)

// exports bounds the export builds (--max-concurrent-exports), runs one
// build or check per version at a time (the others wait for it and share
// it), and remembers which exports this process has checked digest by
// digest.
type exports struct {
	slots  *budget
	flight flight[*manifest]
	mu     sync.Mutex
	// checked holds, per export folder, its files' stamps when their
	// digests last matched the manifest.
	checked map[string][]stamp
}

func newExports(slots int) *exports {
	return &exports{slots: newBudget(int64(slots)), checked: map[string][]stamp{}}
}

// manifest lists an export as built: its folders and files in the order
// they are sent (slash paths relative to the export, "." the export
// itself), each file with its size and SHA-256. It is kept beside the
// export as exports/NAME/V.manifest.json, and only what it lists is sent.
type manifest struct {
	Entries []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	Path   string `json:"path"`
	Dir    bool   `json:"dir,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// stamp identifies a file's state cheaply: a write changes its mtime, a
// replacement its inode.
type stamp struct {
	size, mtime int64
	ino         uint64
}

func stampOf(fi fs.FileInfo) stamp {
	st := stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st
}

// exportModel serves POST /v1/models/{name}[/versions/{v}]:export: the
// version's run as one SavedModel (graft export), written once under
// exports/NAME/V/ in the data directory, checked against its manifest
// (built again when damaged) and sent as a tar archive laid out as
// TensorFlow Serving's model base path wants it (NAME/V/saved_model.pb).
func (s *Server) exportModel(w http.ResponseWriter, r *http.Request, name string, version int) {
	format, err := exportFormatOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	m, release, err := s.useModel(name, version)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	v := strconv.Itoa(m.Version)
	dir, ok := s.exportDir(m.Name, m.Version)
	dir += format.suffix
	if !ok {
		release()
		writeError(w, http.StatusBadRequest, fmt.Errorf("model name %q cannot name a folder", m.Name))
		return
	}
	// A deletion waits for the check or build, not for the download: a
	// file it removes mid-download breaks the download off.
	man, err := s.exports.flight.do(r.Context(), dir, func() (*manifest, error) { return s.readyExport(m, dir, format) })
	release()
	extendWrite(w, s.opts.WriteTimeout) // a build may have used up the write timeout
	if err != nil {
		writeExportError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", m.Name+"-"+v+format.suffix+".tar"))
	w.WriteHeader(http.StatusOK)
	if err := sendExport(&idleWriter{w: w, rc: http.NewResponseController(w), idle: s.opts.WriteTimeout}, dir, m.Name+"/"+v, man); err != nil {
		// The status is sent: only a broken connection tells the client
		// that the archive is not whole.
		s.log.Warn("export download broken off", zap.String("export", dir), zap.Error(err))
		panic(http.ErrAbortHandler)
	}
}

// readyExport returns the manifest of dir's export once the export
// matches it, building the export first when it is missing or damaged.
func (s *Server) readyExport(m *api.Model, dir string, format exportFormat) (*manifest, error) {
	man, err := s.checkExport(dir)
	if err == nil {
		return man, nil
	}
	damaged := !errors.Is(err, fs.ErrNotExist)
	if damaged {
		s.log.Warn("export damaged: building it again", zap.String("export", dir), zap.Error(err))
	}
	if err := removeExport(dir); err != nil {
		return nil, fmt.Errorf("remove the damaged export %s: %w", dir, err)
	}
	if free, under := s.freeDisk(); under {
		return nil, &statusError{http.StatusInsufficientStorage, fmt.Errorf("the disk of the data directory %s has %d bytes free, under --min-free-disk (%d): no export is built below it; free space there (or lower --min-free-disk)", s.dataDir, free, s.opts.MinFreeDisk)}
	}
	if err := takeSlot(s.exports.slots, s.opts.MaxConcurrentExports, "export builds", "--max-concurrent-exports"); err != nil {
		return nil, err
	}
	defer s.exports.slots.release(1)
	man, err = s.buildExport(m, dir, format)
	if err != nil && damaged {
		err = fmt.Errorf("the kept export of %s version %d was damaged and building it again failed: %w", m.Name, m.Version, err)
	}
	return man, err
}

// exportFormat is one format the export endpoint builds: kept in the
// folder exports/NAME/V plus suffix, built there by build (whose folder
// must appear whole or not at all).
type exportFormat struct {
	suffix string
	build  func(runDir, dir string) error
}

// exportFormats are the formats by the request's format and quantize
// parameters. A single-file format goes into its own folder as
// model.FORMAT, the layout Triton's model repository wants.
var exportFormats = map[string]exportFormat{
	"savedmodel":     {"", export.Run},
	"onnx":           {".onnx", buildFile(export.Options{Format: export.FormatONNX})},
	"tflite":         {".tflite", buildFile(export.Options{Format: export.FormatTFLite})},
	"tflite-float16": {".tflite-float16", buildFile(export.Options{Format: export.FormatTFLite, Quantize: export.QuantizeFloat16})},
}

// buildFile builds a single-file format into the folder dir.
func buildFile(o export.Options) func(runDir, dir string) error {
	return func(runDir, dir string) error {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		err := export.Write(runDir, filepath.Join(dir, "model."+o.Format), o)
		if err != nil {
			os.RemoveAll(dir)
		}
		return err
	}
}

// exportFormatOf reads ?format=savedmodel|onnx|tflite (default savedmodel) and,
// for tflite, ?quantize=float16.
func exportFormatOf(r *http.Request) (exportFormat, error) {
	q := r.URL.Query()
	format, quantize := q.Get("format"), q.Get("quantize")
	if format == "" {
		format = "savedmodel"
	}
	key := format
	if quantize != "" {
		if format != "tflite" || quantize != "float16" {
			return exportFormat{}, fmt.Errorf("quantize=%q: only format=tflite takes quantize, and only float16", quantize)
		}
		key += "-" + quantize
	}
	f, ok := exportFormats[key]
	if !ok {
		return exportFormat{}, fmt.Errorf("format=%q: use savedmodel, onnx or tflite", format)
	}
	return f, nil
}

// removeExports removes every format's export of one version (dir is its
// SavedModel's folder) and forgets their checks.
func (s *Server) removeExports(dir string) error {
	var errs []error
	for _, f := range exportFormats {
		errs = append(errs, removeExport(dir+f.suffix))
		s.exports.mu.Lock()
		delete(s.exports.checked, dir+f.suffix)
		s.exports.mu.Unlock()
	}
	return errors.Join(errs...)
}

func manifestPath(dir string) string { return dir + ".manifest.json" }

// removeExport removes an export and its manifest; nothing there is fine.
func removeExport(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Remove(manifestPath(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// buildExport writes the export (graft export's folder appears whole or
// not at all) and then its manifest; an export without a manifest is
// built again, so a crash between the two loses nothing.
func (s *Server) buildExport(m *api.Model, dir string, format exportFormat) (*manifest, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	err := format.build(m.RunDir, dir)
	var man manifest
	if err == nil {
		s.metrics.exportBuilt()
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			e := manifestEntry{Path: filepath.ToSlash(rel), Dir: d.IsDir()}
			if !e.Dir {
				if e.Size, e.SHA256, err = digest(path); err != nil {
					return err
				}
			}
			man.Entries = append(man.Entries, e)
			return nil
		})
	}
	if err == nil {
		err = atomicfile.Write(manifestPath(dir), 0o600, func(w io.Writer) error { return json.NewEncoder(w).Encode(&man) })
	}
	if err != nil {
		removeExport(dir)
		os.Remove(parent) // when empty: a refused export leaves nothing
		return nil, err
	}
	// Just digested: what it holds now is what this process has checked.
	stamps, err := stampExport(dir, &man)
	if err != nil {
		return nil, err
	}
	s.exports.mu.Lock()
	s.exports.checked[dir] = stamps
	s.exports.mu.Unlock()
	return &man, nil
}

// digest is a regular file's size and SHA-256.
func digest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return 0, "", fmt.Errorf("%s is not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// checkExport reads dir's manifest and checks the export against it:
// every size always, every digest when this process has not checked them
// yet or a file changed since (mtime, inode). fs.ErrNotExist: neither the
// export nor its manifest is there.
func (s *Server) checkExport(dir string) (*manifest, error) {
	b, err := os.ReadFile(manifestPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%s has no manifest", dir)
	}
	if err != nil {
		return nil, err
	}
	var man manifest
	if err := json.Unmarshal(b, &man); err != nil || len(man.Entries) == 0 {
		return nil, fmt.Errorf("manifest %s: unreadable (%v)", manifestPath(dir), err)
	}
	stamps, err := stampExport(dir, &man)
	if err != nil {
		return nil, err
	}
	s.exports.mu.Lock()
	same := slices.Equal(s.exports.checked[dir], stamps)
	s.exports.mu.Unlock()
	if same {
		return &man, nil
	}
	for _, e := range man.Entries {
		if e.Dir {
			continue
		}
		if _, sum, err := digest(filepath.Join(dir, filepath.FromSlash(e.Path))); err != nil || sum != e.SHA256 {
			return nil, fmt.Errorf("%s: content differs from its manifest (%v)", e.Path, err)
		}
	}
	s.exports.mu.Lock()
	s.exports.checked[dir] = stamps
	s.exports.mu.Unlock()
	return &man, nil
}

// stampExport checks that dir holds what man lists, each file at its
// size, and returns the files' stamps.
func stampExport(dir string, man *manifest) ([]stamp, error) {
	stamps := make([]stamp, len(man.Entries))
	for i, e := range man.Entries {
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(e.Path)))
		switch {
		case err != nil:
			return nil, err
		case e.Dir != fi.IsDir() || (!e.Dir && !fi.Mode().IsRegular()):
			return nil, fmt.Errorf("%s: not the file type its manifest lists", e.Path)
		case !e.Dir && fi.Size() != e.Size:
			return nil, fmt.Errorf("%s: %d bytes, its manifest says %d", e.Path, fi.Size(), e.Size)
		}
		if !e.Dir {
			stamps[i] = stampOf(fi)
		}
	}
	return stamps, nil
}

// sendExport writes the export's tar archive, entry by entry as its
// manifest lists them, under prefix (NAME/V). A file that is shorter, or
// whose bytes differ from the manifest's digest by the time they are
// sent, is an error: the caller breaks the connection off.
func sendExport(w io.Writer, dir, prefix string, man *manifest) error {
	tw := tar.NewWriter(w)
	for _, e := range man.Entries {
		if err := sendEntry(tw, dir, prefix, e); err != nil {
			return err
		}
	}
	return tw.Close()
}

func sendEntry(tw *tar.Writer, dir, prefix string, e manifestEntry) error {
	name := prefix + "/" + e.Path
	if e.Path == "." {
		name = prefix
	}
	if e.Dir {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: time.Unix(0, 0)})
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(e.Path)))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: e.Size, ModTime: fi.ModTime()}); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.CopyN(tw, io.TeeReader(f, h), e.Size); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 {
		return fmt.Errorf("%s changed while it was sent (SHA-256 %s, the manifest's %s)", e.Path, sum, e.SHA256)
	}
	return nil
}

// idleWriter gives each write the idle deadline anew, so a download as
// long as it needs goes on while the client keeps reading.
type idleWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	idle time.Duration
}

func (iw *idleWriter) Write(p []byte) (int, error) {
	iw.rc.SetWriteDeadline(time.Now().Add(iw.idle))
	return iw.w.Write(p)
}

func writeExportError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, export.ErrRun), errors.Is(err, tflite.ErrUnsupported), errors.Is(err, export.ErrONNXOp):
		writeError(w, http.StatusConflict, err)
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		writeError(w, http.StatusInsufficientStorage, fmt.Errorf("the data directory's disk is full; nothing was kept: %w", err))
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, err) // the client is gone
	default:
		writeStatusError(w, err, http.StatusInternalServerError)
	}
}
