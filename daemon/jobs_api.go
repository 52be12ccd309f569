package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/graft-ml/graft/daemon/api"
	"github.com/graft-ml/graft/internal/train"
)

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkRequest validates a job request and makes its spec the daemon's:
// paths resolved inside the allowed roots, out and cache_dir under the
// data directory, defaults filled. It returns every invalid field.
func (s *Server) checkRequest(req *api.JobRequest) train.FieldErrors {
	var bad train.FieldErrors
	add := func(field, format string, args ...any) {
		bad = append(bad, train.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := &req.Config
	if c.Out != "" {
		add("out", "set by the daemon (a run directory under its --data-dir); leave it out")
	}
	if c.CacheDir != "" {
		add("cache_dir", "set by the daemon (under its --data-dir); leave it out")
	}
	if len(c.AllowRoots) > 0 {
		add("allow_roots", "set by the daemon (its --allow-root); leave it out")
	}
	for _, f := range []struct {
		name string
		p    *string
	}{{"backbone", &c.Backbone}, {"data", &c.Data}, {"val", &c.Val}} {
		if *f.p == "" {
			continue
		}
		real, err := s.confine(*f.p)
		if err != nil {
			add(f.name, "%v", err)
			continue
		}
		*f.p = real
	}
	if req.Model != "" && !modelName.MatchString(req.Model) {
		add("model", "%q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", req.Model)
	}
	if strings.HasPrefix(c.Device, "cuda") && s.opts.CUDAWorkerPath == "" {
		add("device", "%q: this daemon has no graft-cuda worker (start graft serve with --cuda-worker PATH); use cpu or auto", c.Device)
	}
	if len(bad) > 0 {
		return bad
	}
	c.Out = s.runDir("pending") // replaced by the job's own
	c.CacheDir = s.cacheDir()
	c.AllowRoots = s.roots.Dirs() // the worker confines every file it opens
	c.Defaults()
	if err := c.Validate(); err != nil {
		var fe train.FieldErrors
		if errors.As(err, &fe) {
			return fe
		}
		add("spec", "%v", err)
		return bad
	}
	if strings.HasPrefix(c.Device, "cuda") && s.opts.GPUMemoryBudget > 0 {
		need, err := s.gpuNeed(c)
		if err != nil {
			add("device", "%v", err)
		}
		req.GPUBytes = need
	}
	return bad
}

// gpuNeed is the device memory a GPU job reserves: all of its features
// when they fit the budget, else what streaming them needs. A job that
// does not fit even then is refused with the numbers.
func (s *Server) gpuNeed(c *train.Config) (int64, error) {
	f, err := train.EstimateFootprint(*c)
	if err != nil {
		return 0, fmt.Errorf("sizing the job's GPU memory: %w", err)
	}
	need, ok := f.Need(s.opts.GPUMemoryBudget)
	if !ok {
		return 0, fmt.Errorf("the job needs %d bytes of GPU memory even with its features streamed (head state %d, batch scratch %d), over the daemon's --gpu-memory-budget of %d: lower batch_size, pick a smaller tap or head, or raise the budget",
			need, f.ParamBytes, f.ScratchBytes, s.opts.GPUMemoryBudget)
	}
	return need, nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	var req api.JobRequest
	if derr := decode(w, r, s.opts.MaxBodyBytes, &req); derr != nil {
		writeError(w, derr.code, fmt.Errorf("job spec: %w", derr.err))
		return
	}
	if bad := s.checkRequest(&req); len(bad) > 0 {
		writeFields(w, bad)
		return
	}
	j := &api.Job{Spec: req.Config, Model: req.Model, GPUBytes: req.GPUBytes}
	err := s.sched.submit(j, func(j *api.Job) {
		j.RunDir = s.runDir(j.ID)
		j.Spec.Out = j.RunDir
		if j.Model == "" {
			j.Model = j.ID
		}
	})
	switch {
	case errors.Is(err, ErrQueueFull):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%w (%d jobs queued)", err, s.opts.QueueSize))
		return
	case errors.Is(err, ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.store.Jobs()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if st := r.URL.Query().Get("state"); st != "" {
		kept := jobs[:0]
		for _, j := range jobs {
			if string(j.State) == st {
				kept = append(kept, j)
			}
		}
		jobs = kept
	}
	writeJSON(w, http.StatusOK, api.JobList{Jobs: jobs})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.store.Job(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// jobAction serves POST /v1/jobs/{id}:cancel.
func (s *Server) jobAction(w http.ResponseWriter, r *http.Request) {
	id, action, ok := strings.Cut(r.PathValue("idaction"), ":")
	if !ok || action != "cancel" {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such action %q: use POST /v1/jobs/ID:cancel", r.PathValue("idaction")))
		return
	}
	j, err := s.sched.cancel(id)
	switch {
	case errors.Is(err, ErrFinal):
		writeJSON(w, http.StatusConflict, api.Error{Error: err.Error()})
	case err != nil:
		writeStoreError(w, err)
	default:
		writeJSON(w, http.StatusAccepted, j)
	}
}

func writeStoreError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeError(w, http.StatusInternalServerError, err)
}

func fieldErr(field, msg string) train.FieldErrors {
	return train.FieldErrors{{Field: field, Message: msg}}
}
