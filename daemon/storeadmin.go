package daemon

import (
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// backup streams a consistent copy of the store (one read transaction:
// the jobs as they were when it began, while writes go on) as the answer:
// GET /v1/admin/backup. The copy is a graft.db to start a daemon from.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	begin := func(size int64) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.Header().Set("Content-Disposition", `attachment; filename="graft.db"`)
		w.WriteHeader(http.StatusOK)
	}
	err := s.store.Backup(begin, &idleWriter{w: w, rc: http.NewResponseController(w), idle: s.opts.WriteTimeout})
	if err != nil {
		// The answer has begun: its length is short, so the client sees
		// a broken download, never a short file taken for whole.
		s.log.Warn("backup broken off", zap.Error(err))
	}
}
