package daemon

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/graft-ml/graft/api"
)

// Page sizes of GET /v1/jobs: a daemon that ran thousands of jobs (and a
// dashboard that polls the list every second) must not answer with all.
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
	p := jobPage{after: q.Get("after"), limit: defaultJobPage, state: api.State(q.Get("state"))}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxJobPage {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: give a page size from 1 to %d (default %d)", v, maxJobPage, defaultJobPage))
			return
		}
		p.limit = n
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
