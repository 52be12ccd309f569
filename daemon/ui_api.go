package daemon

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/ui"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/infer/evaluate"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// withUI serves the dashboard (daemon/ui) at /ui and passes everything
// else to the API. The page's files are public (they hold no data; the
// page asks for the token), so they skip the token but not the Host and
// Origin checks.
func (s *Server) withUI(apiHandler http.Handler) http.Handler {
	page := ui.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ui" && !strings.HasPrefix(r.URL.Path, "/ui/") {
			apiHandler.ServeHTTP(w, r)
			return
		}
		if code, err := s.checkOrigin(r); err != nil {
			w.Header().Set("Connection", "close") // as for the API (middleware)
			writeError(w, code, err)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// uiRoutes adds what the dashboard shows beyond jobs and events: a job's
// log and its evaluation.
func (s *Server) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/jobs/{id}/log", s.jobLog)
	mux.HandleFunc("GET /v1/jobs/{id}/evaluation", s.jobEvaluation)
}

// maxLogTail is how much of a job's log GET .../log returns: its end.
const maxLogTail = 64 << 10

// jobLog serves the last 64 KiB of a job's worker log (all attempts, its
// rotated part before it), from the start of a line; empty before the
// first attempt.
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.store.Job(id); err != nil {
		writeStoreError(w, err)
		return
	}
	tail, err := s.logTail(id, maxLogTail)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("job %s: log: %w", id, err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(tail)
}

// Evaluation is GET /v1/jobs/{id}/evaluation: the run's best head scored
// on its own validation samples, as graft eval --run RUN --split val
// reports it.
type Evaluation struct {
	evaluate.Report
	Split     string `json:"split"`
	BestEpoch int    `json:"best_epoch"`
	BadFiles  int    `json:"bad_files"`
}

// jobEvaluation scores a succeeded job's best head on its validation
// split: features come from the feature cache training filled, so this is
// the head's forward pass. It takes an evaluation slot, not a prediction
// one, and is computed once per job (evaluation.go).
func (s *Server) jobEvaluation(w http.ResponseWriter, r *http.Request) {
	j, err := s.store.Job(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if j.State != api.Succeeded {
		writeError(w, http.StatusConflict, fmt.Errorf("job %s is %s: its evaluation exists once it has succeeded", j.ID, j.State))
		return
	}
	release, err := s.useJob(j.ID) // a deletion waits for the run's reading
	if err != nil {
		writeStoreError(w, err)
		return
	}
	ev, err := s.evaluation(r, j)
	release()
	extendWrite(w, s.opts.WriteTimeout) // computing may have taken longer
	if err != nil {
		writeStatusError(w, err, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

func (s *Server) evaluateVal(r *http.Request, j *api.Job) (*Evaluation, int, error) {
	t, err := predict.LoadRunCapped(j.RunDir, s.opts.CacheMaxBytes)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("job %s: load its run: %w", j.ID, err)
	}
	defer t.Close()
	ds, err := t.Split(rundir.SplitVal)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("job %s: validation split: %w", j.ID, err)
	}
	if len(ds.Samples) == 0 {
		return nil, http.StatusConflict, fmt.Errorf("job %s has no validation samples (val_split 0): score it with graft eval --run RUN --data TESTDATA", j.ID)
	}
	ds.MaxPixels = s.opts.MaxImagePixels
	set, rep, err := t.Features(r.Context(), ds, dataset.Skip, s.log, nil)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("job %s: validation features: %w", j.ID, err)
	}
	probs, err := t.Probabilities(set.Features, set.Len())
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("job %s: %w", j.ID, err)
	}
	ev := &Evaluation{Report: evaluate.ScoreProbabilities(t.Classes, set.Labels, probs), Split: rundir.SplitVal, BadFiles: len(rep.Bad)}
	if j.Summary != nil {
		ev.BestEpoch = j.Summary.BestEpoch
	}
	return ev, 0, nil
}
