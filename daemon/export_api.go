package daemon

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/graft-ml/graft/internal/export"
)

// exportModel serves POST /v1/models/{name}[/versions/{v}]:export: the
// version's run as one SavedModel (graft export), written once under
// exports/NAME/V/ in the data directory and sent as a tar archive laid out
// as TensorFlow Serving's model base path wants it (NAME/V/saved_model.pb).
func (s *Server) exportModel(w http.ResponseWriter, r *http.Request, name string, version int) {
	m, err := s.store.Model(name, version)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	v := strconv.Itoa(m.Version)
	dir := filepath.Join(s.dataDir, "exports", m.Name, v)
	if filepath.Base(m.Name) != m.Name || m.Name == ".." {
		writeError(w, http.StatusBadRequest, fmt.Errorf("model name %q cannot name a folder", m.Name))
		return
	}
	if !exported(dir) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			writeExportError(w, err)
			return
		}
		// Two requests may export at once: the loser's rename fails,
		// and the winner's folder serves both.
		if err := export.Run(m.RunDir, dir); err != nil && !exported(dir) {
			writeExportError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", m.Name+"-"+v+".tar"))
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join(m.Name, v, rel))
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil { // the status is sent; a cut archive is all a client can see
		s.log.Warn("export download cut short: " + err.Error())
	}
}

func exported(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "saved_model.pb"))
	return err == nil
}

func writeExportError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, export.ErrRun):
		writeError(w, http.StatusConflict, err)
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		writeError(w, http.StatusInsufficientStorage, fmt.Errorf("the data directory's disk is full; nothing was kept: %w", err))
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}
