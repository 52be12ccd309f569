package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/store"
)

// Page sizes of GET /v1/jobs and GET /v1/models: a daemon that ran
// thousands of jobs (and a dashboard that polls both lists every second)
// must not answer with all.
const (
	defaultJobPage = 100
	maxJobPage     = 1000
)

// listed is a job as the job list shows it: the record without its run's
// summary (GET /v1/jobs/ID has it), so that a page stays small.
func listed(j *api.Job) api.Job {
	l := *j
	l.Summary = nil
	return l
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := store.JobPage{After: q.Get("after"), State: api.State(q.Get("state"))}
	var err error
	if p.Limit, err = pageLimit(q.Get("limit")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch o := q.Get("order"); o {
	case "", "oldest":
	case "newest":
		p.Newest = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("order %q: use oldest (the default) or newest", o))
		return
	}
	jobs, next, err := s.store.JobsPage(p, listed)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.JobList{Jobs: jobs, Next: next})
}

// pageLimit reads a list's limit parameter.
func pageLimit(v string) (int, error) {
	if v == "" {
		return defaultJobPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxJobPage {
		return 0, fmt.Errorf("limit %q: give a page size from 1 to %d (default %d)", v, maxJobPage, defaultJobPage)
	}
	return n, nil
}

// listedModel is a model version as the model list shows it: its first
// api.MaxExamples classes and their count (GET /v1/models/NAME has all).
func listedModel(m api.Model) api.Model {
	if len(m.Classes) > api.MaxExamples {
		m.ClassCount, m.Classes = len(m.Classes), m.Classes[:api.MaxExamples]
	}
	return m
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ms, next, err := s.store.ModelsPage(q.Get("after"), limit, listedModel)
	switch {
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ModelList{Models: ms, Next: next})
}
