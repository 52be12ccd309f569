package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/daemon/sched"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/devices"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/fit/sweep"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/util/gemm"
)

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// serverOnly are the fields of a job's record the daemon sets: a request
// that names them gets a 400 that says so.
type serverOnly struct {
	Out        json.RawMessage `json:"out"`
	CacheDir   json.RawMessage `json:"cache_dir"`
	AllowRoots json.RawMessage `json:"allow_roots"`
}

// checkRequest validates a job request and resolves it into the daemon's
// job: paths resolved inside the allowed roots, out and cache_dir under
// the data directory, defaults filled, device auto decided. It returns
// every invalid field and the status to answer: 400 for a spec that is
// wrong in itself, 422 for one whose backbone, tap, engine or data cannot
// work, or that needs more memory than the daemon gives a job.
func (s *Server) checkRequest(req *api.JobRequest, server serverOnly) (*job.Job, api.FieldErrors, int) {
	var bad api.FieldErrors
	add := func(field, format string, args ...any) {
		bad = append(bad, api.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if server.Out != nil {
		add("out", "set by the daemon (a run directory under its --data-dir); leave it out")
	}
	if server.CacheDir != nil {
		add("cache_dir", "set by the daemon (under its --data-dir); leave it out")
	}
	if server.AllowRoots != nil {
		add("allow_roots", "set by the daemon (its --allow-root); leave it out")
	}
	c := &req.JobSpec
	for _, f := range []struct {
		name string
		p    *string
	}{{"backbone", &c.Backbone}, {"data", &c.Data}, {"val", &c.Val}} {
		if *f.p == "" {
			continue
		}
		confine := s.confine
		if f.name != "backbone" && (strings.Contains(*f.p, ",") || strings.ContainsAny(*f.p, "*?[")) {
			confine = s.confineList // TFRecord files: a comma list, globs
		}
		real, err := confine(*f.p)
		if err != nil {
			add(f.name, "%v", err)
			continue
		}
		*f.p = real
	}
	if w := c.ClassWeight; w != "" && w != job.BalancedWeights { // a file of weights
		if real, err := s.confine(w); err != nil {
			add("class_weight", "%v", err)
		} else {
			c.ClassWeight = real
		}
	}
	if req.Model != "" && !modelName.MatchString(req.Model) {
		add("model", "%s: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", quote(req.Model))
	}
	if c.Device.IsCUDA() && s.opts.CUDAWorkerPath == "" {
		add("device", "%s: this daemon has no graft-cuda worker (start graft serve with --cuda-worker PATH); use cpu or auto", quote(c.Device.String()))
	}
	if len(bad) > 0 {
		return nil, bad, http.StatusBadRequest
	}
	// Workers are this binary: a TensorFlow job needs one built with it. A
	// well-formed spec this daemon cannot run is unprocessable, not bad.
	if c.Engine == api.EngineTensorFlow && !tf.Available {
		return nil, api.FieldErrors{{Field: "engine", Message: fmt.Sprintf("%s: this daemon's graft has no TensorFlow engine (run one built with make build-tf); use native", quote(string(c.Engine)))}}, http.StatusUnprocessableEntity
	}
	if c.MemoryBudget == nil { // the default, within what the daemon gives a job
		c.MemoryBudget = api.Ptr(min(job.Defaults().MemoryBudget, s.opts.JobMemory/2))
	}
	j, err := job.New(*c, job.Where{Out: s.runDir("pending"), CacheDir: s.cacheDir(), AllowRoots: s.roots.Dirs()})
	if err != nil {
		var fe api.FieldErrors
		if errors.As(err, &fe) {
			return nil, fe, http.StatusBadRequest
		}
		add("spec", "%v", err)
		return nil, bad, http.StatusBadRequest
	}
	if c.Sweep != nil { // every trial resolved now: a bad value fails here
		if _, err := sweep.FromSpec(*c, job.Where{Out: j.Out, CacheDir: j.CacheDir, AllowRoots: j.AllowRoots}); err != nil {
			return nil, api.FieldErrors{{Field: "sweep", Message: strings.TrimPrefix(err.Error(), "sweep: ")}}, http.StatusBadRequest
		}
	}
	// auto means what it means for graft train: a GPU when this daemon's
	// graft-cuda finds one, else the CPU.
	wasAuto := j.Device.Kind == api.Auto
	j.DecideAuto(s.probeGPU)
	var gpus []devices.Device
	if j.Device.IsCUDA() {
		gpus = s.gpuList()
		if len(gpus) > 0 && j.Device.Index >= len(gpus) {
			add("device", "%s: this host has %d GPU(s), cuda:0 to cuda:%d (graft-cuda devices lists them); use one of those, cuda or auto", quote(j.Device.String()), len(gpus), len(gpus)-1)
			return nil, bad, http.StatusUnprocessableEntity
		}
	}
	if msg := s.checkCPUPrecision(j); msg != "" {
		return nil, fieldErr("precision", msg), http.StatusUnprocessableEntity
	}
	if bad = s.checkBounds(j); len(bad) > 0 {
		return nil, bad, http.StatusBadRequest
	}
	// Read the graph, infer the tap's shape and count the data, as the
	// worker will: a spec that cannot work fails here, not later.
	f, err := train.EstimateFootprint(j)
	if sched.Transient(err) {
		return nil, api.FieldErrors{{Field: "spec", Message: fmt.Sprintf("the daemon is short of a resource reading it (%v): retry shortly", err)}}, http.StatusServiceUnavailable
	}
	if err != nil {
		return nil, api.FieldErrors{{Field: footprintField(err), Message: err.Error()}}, http.StatusUnprocessableEntity
	}
	// A job that shards on this host (the local launcher) runs its
	// extract_workers shard processes at once, each with the extraction's
	// working set; under Ray each shard reserves its own on its node.
	shards := ""
	if s.opts.Launcher == nil && j.ExtractWorkers > 1 {
		f.ExtractBytes *= int64(j.ExtractWorkers)
		shards = fmt.Sprintf(" in %d shard workers at once", j.ExtractWorkers)
	}
	need := f.Host(j.MemoryBudget)
	req.HostBytes = need
	if need > s.opts.JobMemory {
		advice := "lower batch_size or memory_budget, or pick a smaller head or tap"
		if shards != "" {
			advice = "lower extract_workers, batch_size or memory_budget, or pick a smaller head or tap"
		}
		add("memory", "the job needs about %d bytes of memory (resident features %d, then the larger of the extraction %d%s (the backbone's weights, their packed copies and scratch %d, its run and the decoded images) or head and optimizer state %d and step scratch %d), over this daemon's --job-memory of %d: %s",
			need, min(f.FeatureBytes, j.MemoryBudget), f.ExtractBytes, shards, f.BackboneBytes, f.ParamBytes, f.ScratchBytes, s.opts.JobMemory, advice)
		return nil, bad, http.StatusUnprocessableEntity
	}
	if j.Device.IsCUDA() && (s.opts.GPUMemoryBudget > 0 || len(gpus) > 0) {
		if wasAuto {
			if g := s.sched.PickGPU(f.Need); g >= 0 {
				j.Device.Index = g
			}
		}
		need, err := s.gpuNeed(f, j.Device.Index)
		if err != nil {
			add("device", "%v", err)
			return nil, bad, http.StatusUnprocessableEntity
		}
		req.GPUBytes = need
	}
	return j, nil, 0
}

// checkCPUPrecision is why a cpu job cannot run at its precision on this
// daemon's workers ("" when it can): tf32 (perhaps where auto chose the
// cpu), or bf16 on a local worker's CPU without AMX or AVX512_BF16.
func (s *Server) checkCPUPrecision(j *job.Job) string {
	if j.Device.IsCUDA() {
		return ""
	}
	check := s.opts.BF16Check
	if check == nil {
		check = gemm.BF16Check
	}
	if s.opts.Launcher != nil { // the workers' CPUs, not ours
		check = func() error { return nil }
	}
	if _, err := head.CPUPrecision(j.HeadPrecision, check); err != nil {
		return "this daemon runs the job on its CPU: " + strings.TrimPrefix(err.Error(), "precision ")
	}
	return ""
}

// probeGPU finds a GPU for device auto through the daemon's graft-cuda
// worker (or Options.GPUs), asked once and remembered; the GPUs it lists
// make admission per GPU.
func (s *Server) probeGPU() error {
	s.gpuProbe.Do(func() {
		if s.opts.CUDAWorkerPath == "" {
			s.gpuErr = errors.New("this daemon has no graft-cuda worker (--cuda-worker)")
			return
		}
		list := s.opts.GPUs
		if list == nil {
			list, s.gpuErr = devices.GPUsOf(context.Background(), s.opts.CUDAWorkerPath)
		}
		for _, d := range list {
			if d.Kind == "cuda" {
				s.gpus = append(s.gpus, d)
			}
		}
		s.sched.SetGPUs(s.gpus)
	})
	return s.gpuErr
}

// gpuList is the host's GPUs, cuda:0 first; nil when not known.
func (s *Server) gpuList() []devices.Device {
	s.probeGPU()
	return s.gpus
}

// Upper bounds of a job spec's numbers: beyond them a job is a mistake
// (or an attack), never a plan.
const (
	maxEpochs   = 100_000
	maxBatch    = 65_536
	maxWorkers  = 1024
	maxFilters  = 16_384
	maxKernel   = 63
	maxPatience = 100_000
	maxTags     = 64 // a SavedModel's tag set has a few
)

// checkBounds bounds every number of a resolved job.
func (s *Server) checkBounds(c *job.Job) api.FieldErrors {
	var bad api.FieldErrors
	over := func(field string, v, max int64, hint string) {
		if v > max {
			bad = append(bad, api.FieldError{Field: field, Message: fmt.Sprintf("%d is over this daemon's limit of %d%s", v, max, hint)})
		}
	}
	over("tags", int64(len(c.Tags)), maxTags, " tags")
	over("epochs", int64(c.Epochs), maxEpochs, "")
	over("batch_size", int64(c.BatchSize), maxBatch, "")
	over("workers", int64(c.Workers), maxWorkers, "")
	over("extract_workers", int64(c.ExtractWorkers), maxWorkers, "")
	over("shard_attempts", int64(c.ShardAttempts), maxPatience, "")
	over("step_every", int64(c.StepEvery), maxPatience, "")
	over("plateau_patience", int64(c.PlateauPatience), maxPatience, "")
	over("early_stopping", int64(c.EarlyStopping), maxPatience, "")
	over("memory_budget", c.MemoryBudget, s.opts.JobMemory, " bytes (--job-memory)")
	over("head", int64(c.Filters), maxFilters, " filters")
	over("head", int64(c.Kernel), maxKernel, " (kernel size)")
	return bad
}

// footprintField names the spec field an error sizing the job is about.
func footprintField(err error) string {
	switch {
	case errors.Is(err, savedmodel.ErrUnknownTensor):
		return "tap"
	case errors.Is(err, engine.ErrUnknown), errors.Is(err, tf.ErrNoTensorFlow), errors.Is(err, tf.ErrOptions):
		return "engine"
	case errors.Is(err, savedmodel.ErrTagSet):
		return "tags"
	case errors.Is(err, savedmodel.ErrUnknownSignature):
		return "signature"
	case errors.Is(err, train.ErrVal):
		return "val"
	case isDatasetError(err):
		return "data"
	}
	return "backbone"
}

func isDatasetError(err error) bool {
	for _, e := range []error{dataset.ErrSource, dataset.ErrEmpty, dataset.ErrClasses, dataset.ErrLabel, dataset.ErrFormat, dataset.ErrBadFile, dataset.ErrOutsideRoots} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// gpuNeed is the device memory a GPU job reserves on GPU gpu: all of its
// features when they fit what admission allows there, else what
// streaming them needs. A job that does not fit even then is refused with
// the numbers.
func (s *Server) gpuNeed(f train.Footprint, gpu int) (int64, error) {
	c := s.sched.CapacityOf(gpu)
	if c <= 0 {
		return f.Resident(), nil
	}
	need, ok := f.Need(c)
	if !ok {
		limit := "its memory"
		if c == s.opts.GPUMemoryBudget {
			limit = "the daemon's --gpu-memory-budget"
		}
		return 0, fmt.Errorf("the job needs %d bytes of GPU memory even with its features streamed (head state %d, step scratch %d, CUDA context %d), over the %d bytes jobs may reserve on cuda:%d (%s): lower batch_size, pick a smaller tap or head, or raise the budget",
			need, f.ParamBytes, f.ScratchBytes, f.ContextBytes, c, gpu, limit)
	}
	return need, nil
}

// checkSlot takes one of the --max-concurrent-submissions slots for
// checking a spec or inspecting a backbone: both read a graph, and a
// spec's data is walked (a folder of 100k files takes a CPU second). A
// few at once, so a burst cannot starve the rest of the API; no lock is
// held while they run. Without a slot it answers 503 and reports false;
// with one, the caller releases it.
func (s *Server) checkSlot(w http.ResponseWriter, r *http.Request) bool {
	if err := s.specChecks.acquire(r.Context(), 1, 0); err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("busy: %d submissions or inspections are being checked (--max-concurrent-submissions); retry in a moment", s.opts.MaxConcurrentSubmissions))
		return false
	}
	return true
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	var body struct {
		api.JobRequest
		serverOnly
	}
	if derr := decode(w, r, s.opts.MaxBodyBytes, &body); derr != nil {
		if fe := (api.FieldErrors)(nil); errors.As(derr.err, &fe) { // a device is parsed as it is read
			writeFields(w, http.StatusBadRequest, fe)
			return
		}
		writeError(w, derr.code, fmt.Errorf("job spec: %w", derr.err))
		return
	}
	if err := s.diskSpace(); err != nil {
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	if !s.checkSlot(w, r) {
		return
	}
	req := &body.JobRequest
	spec, bad, code := s.checkRequest(req, body.serverOnly)
	s.specChecks.release(1)
	if len(bad) > 0 {
		writeFields(w, code, bad)
		return
	}
	j := &api.Job{Format: api.Version, Spec: spec.RunSpec, Model: req.Model, GPUBytes: req.GPUBytes, HostBytes: req.HostBytes}
	err := s.sched.Submit(j, func(j *api.Job) {
		j.RunDir = s.runDir(j.ID)
		j.Spec.Out = j.RunDir
		if j.Model == "" {
			j.Model = j.ID
		}
	})
	switch {
	case errors.Is(err, sched.ErrQueueFull):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%w (%d jobs queued)", err, s.opts.QueueSize))
		return
	case errors.Is(err, sched.ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusCreated, j)
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
		writeError(w, http.StatusNotFound, fmt.Errorf("no such action %s: use POST /v1/jobs/ID:cancel", quote(r.PathValue("idaction"))))
		return
	}
	j, err := s.sched.Cancel(id)
	switch {
	case errors.Is(err, sched.ErrFinal):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeStoreError(w, err)
	default:
		writeJSON(w, http.StatusAccepted, j)
	}
}

func writeStoreError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeError(w, http.StatusInternalServerError, err)
}

func fieldErr(field, msg string) api.FieldErrors {
	return api.FieldErrors{{Field: field, Message: msg}}
}
