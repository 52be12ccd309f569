package job

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/data/augment"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// resumable are the settings a resumed run may change: how long it runs,
// where and how fast it computes (precision too: the weights are float32
// whatever the GEMMs' arithmetic), when it stops early. Everything else
// (its data, backbone, tap, head, optimizer, seed, split) defines the run
// its checkpoint belongs to.
var resumable = []string{"version", "epochs", "device", "engine", "tf_memory_fraction", "memory_budget", "workers", "threads",
	"extract_workers", "shard_size", "shard_attempts", "early_stopping", "min_delta", "on_bad_file", "precision"}

// Resume resolves the continuation of a run: its stored record, then only
// what spec sets (the user's explicit settings). A run recorded on cuda:1
// stays on cuda:1 unless spec names another device.
func Resume(stored api.RunSpec, spec api.JobSpec) (*Job, error) {
	if err := api.CheckVersion(rundir.ConfigFile, stored.Version); err != nil {
		return nil, err
	}
	if err := api.CheckVersion("the job spec", spec.Version); err != nil {
		return nil, err
	}
	base := stored
	if stored.Version < 1 {
		j, err := FromRecord(stored)
		if err != nil {
			return nil, err
		}
		base = j.RunSpec
	}
	next := base
	apply(&next, spec)
	if sp, err := augment.Parse(next.Augment); err == nil && next.Augment != "" {
		next.Augment = sp.String() // the record's canonical form: another spelling is no change
	}
	var errs api.FieldErrors
	was, now := fields(base), fields(next)
	for k := range union(was, now) {
		if !slices.Contains(resumable, k) && now[k] != was[k] {
			old := was[k]
			if old == "" {
				old = "none"
			}
			errs = append(errs, api.FieldError{Field: k, Message: fmt.Sprintf("the run was trained with %s; a resumed run keeps it (start a new run to change it)", old)})
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b api.FieldError) int { return compare(a.Field, b.Field) })
		return nil, errs
	}
	return parse(next)
}

func union(a, b map[string]string) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fields is r's JSON fields, as raw JSON text.
func fields(r api.RunSpec) map[string]string {
	b, _ := json.Marshal(r)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// ResumeDir resumes the run in dir (see Resume).
func ResumeDir(dir string, spec api.JobSpec) (*Job, error) {
	var stored api.RunSpec
	if err := rundir.ReadJSON(dir, rundir.ConfigFile, &stored); err != nil {
		return nil, hint.With(err, "--resume continues a run directory that graft train wrote")
	}
	stored.Out = dir
	return Resume(stored, spec)
}

// FromRun resolves a record as a worker's input and train.Run carry it:
// a new run (FromRecord: zero fields are the defaults), or with resume
// the continuation of the run in rec.Out, where rec's device and, when
// set, its epochs, threads and precision override the stored ones (the sender may
// move, extend or re-size the run, or change its precision; Resume refuses anything else).
func FromRun(rec api.RunSpec, resume bool) (*Job, error) {
	if !resume {
		return FromRecord(rec)
	}
	set := api.JobSpec{Device: rec.Device}
	if rec.Epochs > 0 {
		set.Epochs = &rec.Epochs
	}
	if rec.Threads > 0 {
		set.Threads = &rec.Threads
	}
	if rec.Precision != "" { // the sender's (graft train --resume --precision)
		set.Precision = rec.Precision
	}
	return ResumeDir(rec.Out, set)
}
