package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/graft-ml/graft/api"
)

// Page sizes of GET /v1/jobs and GET /v1/models: a daemon that ran
// thousands of jobs (and a dashboard that polls both lists every second)
// must not answer with all.
const (
	defaultJobPage = 100
	maxJobPage     = 1000
)

// jobPage asks the store for one page of the job list.
type jobPage struct {
	after  string // the cursor: the last id of the page before ("" from the start)
	limit  int
	newest bool      // newest first, else oldest first
	state  api.State // only jobs in this state ("" for all)
}

// JobsPage returns one page of jobs in id order (newest first with
// p.newest), each as the list shows it (listed), and the cursor of the
// next page ("" after the last).
func (s *Store) JobsPage(p jobPage) (jobs []api.Job, next string, err error) {
	jobs = []api.Job{}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(jobsBucket).Cursor()
		var k, v []byte
		switch {
		case !p.newest && p.after == "":
			k, v = c.First()
		case !p.newest:
			if k, v = c.Seek([]byte(p.after)); bytes.Equal(k, []byte(p.after)) {
				k, v = c.Next()
			}
		case p.after == "":
			k, v = c.Last()
		default: // the last key before after
			if k, _ = c.Seek([]byte(p.after)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		step := c.Next
		if p.newest {
			step = c.Prev
		}
		for ; k != nil; k, v = step() {
			j, err := readJob(v)
			if err != nil {
				return err
			}
			if p.state != "" && j.State != p.state {
				continue
			}
			if len(jobs) == p.limit {
				next = jobs[len(jobs)-1].ID
				return nil
			}
			jobs = append(jobs, listed(j))
		}
		return nil
	})
	return jobs, next, err
}

// listed is a job as the job list shows it: the record without its run's
// summary (GET /v1/jobs/ID has it), so that a page stays small.
func listed(j *api.Job) api.Job {
	l := *j
	l.Summary = nil
	return l
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := jobPage{after: q.Get("after"), state: api.State(q.Get("state"))}
	var err error
	if p.limit, err = pageLimit(q.Get("limit")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch o := q.Get("order"); o {
	case "", "oldest":
	case "newest":
		p.newest = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("order %q: use oldest (the default) or newest", o))
		return
	}
	jobs, next, err := s.store.JobsPage(p)
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

// ModelsPage returns up to limit model versions after the cursor after
// ("NAME/VERSION", "" from the start), by name then version, each as the
// list shows it, and the cursor of the next page ("" after the last).
func (s *Store) ModelsPage(after string, limit int) (models []api.Model, next string, err error) {
	models = []api.Model{}
	afterName, afterVersion := after, uint64(0)
	if name, v, ok := strings.Cut(after, "/"); ok {
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			return nil, "", fmt.Errorf("%w: after %q: pass the next of the page before", errBadCursor, after)
		}
		afterName, afterVersion = name, n
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(modelsBucket).Cursor()
		for name, _ := c.Seek([]byte(afterName)); name != nil; name, _ = c.Next() {
			vc := tx.Bucket(modelsBucket).Bucket(name).Cursor()
			k, v := vc.First()
			if string(name) == afterName && after != "" {
				k, v = vc.Seek(key(afterVersion + 1))
			}
			for ; k != nil; k, v = vc.Next() {
				if len(models) == limit {
					last := models[len(models)-1]
					next = last.Name + "/" + strconv.Itoa(last.Version)
					return nil
				}
				var m api.Model
				if err := json.Unmarshal(v, &m); err != nil {
					return err
				}
				models = append(models, listedModel(m))
			}
		}
		return nil
	})
	return models, next, err
}

// errBadCursor is an after parameter the daemon never gave.
var errBadCursor = errors.New("daemon: bad page cursor")

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
	ms, next, err := s.store.ModelsPage(q.Get("after"), limit)
	switch {
	case errors.Is(err, errBadCursor):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ModelList{Models: ms, Next: next})
}
