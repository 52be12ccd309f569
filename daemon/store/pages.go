package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/graft-ml/graft/api"
)

// JobPage asks the store for one page of the job list.
type JobPage struct {
	After  string // the cursor: the last id of the page before ("" from the start)
	Limit  int
	Newest bool      // newest first, else oldest first
	State  api.State // only jobs in this state ("" for all)
}

// JobsPage returns one page of jobs in id order (newest first with
// p.Newest), each as the list shows it (listed), and the cursor of the
// next page ("" after the last).
func (s *Store) JobsPage(p JobPage, listed func(*api.Job) api.Job) (jobs []api.Job, next string, err error) {
	jobs = []api.Job{}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(jobsBucket).Cursor()
		var k, v []byte
		switch {
		case !p.Newest && p.After == "":
			k, v = c.First()
		case !p.Newest:
			if k, v = c.Seek([]byte(p.After)); bytes.Equal(k, []byte(p.After)) {
				k, v = c.Next()
			}
		case p.After == "":
			k, v = c.Last()
		default: // the last key before after
			if k, _ = c.Seek([]byte(p.After)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		step := c.Next
		if p.Newest {
			step = c.Prev
		}
		for ; k != nil; k, v = step() {
			j, err := readJob(v)
			if err != nil {
				return err
			}
			if p.State != "" && j.State != p.State {
				continue
			}
			if len(jobs) == p.Limit {
				next = jobs[len(jobs)-1].ID
				return nil
			}
			jobs = append(jobs, listed(j))
		}
		return nil
	})
	return jobs, next, err
}

// ModelsPage returns up to limit model versions after the cursor after
// ("NAME/VERSION", "" from the start), by name then version, each as the
// list shows it, and the cursor of the next page ("" after the last).
func (s *Store) ModelsPage(after string, limit int, listed func(api.Model) api.Model) (models []api.Model, next string, err error) {
	models = []api.Model{}
	afterName, afterVersion := after, uint64(0)
	if name, v, ok := strings.Cut(after, "/"); ok {
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			return nil, "", fmt.Errorf("%w: after %q: pass the next of the page before", ErrBadCursor, after)
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
				models = append(models, listed(m))
			}
		}
		return nil
	})
	return models, next, err
}

// ErrBadCursor is an after parameter the daemon never gave.
var ErrBadCursor = errors.New("store: bad page cursor")

// Select returns the jobs that keep says yes to, in one read
// transaction; registered tells keep whether a job's model version is
// registered. A record this graft cannot read is left out.
func (s *Store) Select(keep func(j *api.Job, registered bool) bool) ([]*api.Job, error) {
	var out []*api.Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(_, v []byte) error {
			j, err := readJob(v)
			if err != nil {
				return nil
			}
			registered := false
			if mb := tx.Bucket(modelsBucket).Bucket([]byte(j.Model)); mb != nil && j.Version > 0 {
				registered = mb.Get(key(uint64(j.Version))) != nil
			}
			if keep(j, registered) {
				out = append(out, j)
			}
			return nil
		})
	})
	return out, err
}
