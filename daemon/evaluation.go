package daemon

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/graft-ml/graft/api"
)

// evaluations bounds GET /v1/jobs/{id}/evaluation: slots of its own
// (--max-concurrent-evaluations), one computation per job at a time, and
// each ended job's answer kept, since it cannot change. The answer depends
// on the job alone (the endpoint reads no query parameters); the key
// holds the job's update time, so a job record that changes (or a new one
// under the same id) is computed again.
type evaluations struct {
	slots  *budget
	flight flight[*Evaluation]
	mu     sync.Mutex
	done   map[string]*Evaluation // by evalKey
	order  []string               // keys of done, oldest first
}

// maxKeptEvaluations bounds the answers kept; the oldest goes first.
const maxKeptEvaluations = 256

func newEvaluations(slots int) *evaluations {
	return &evaluations{slots: newBudget(int64(slots)), done: map[string]*Evaluation{}}
}

func evalKey(j *api.Job) string { return j.ID + "@" + strconv.FormatInt(j.Updated.UnixNano(), 10) }

// evaluation answers job j's evaluation from what is kept, else computes
// it in a slot (callers for the same job share one computation).
func (s *Server) evaluation(r *http.Request, j *api.Job) (*Evaluation, error) {
	e := s.evals
	key := evalKey(j)
	e.mu.Lock()
	ev := e.done[key]
	e.mu.Unlock()
	if ev != nil {
		return ev, nil
	}
	return e.flight.do(r.Context(), key, func() (*Evaluation, error) {
		if err := s.takeEvalSlot(); err != nil {
			return nil, err
		}
		defer e.slots.release(1)
		// Shared by every caller waiting: one leaving does not stop it.
		ev, code, err := s.evaluateVal(r.WithContext(context.WithoutCancel(r.Context())), j)
		if err != nil {
			return nil, &statusError{code, err}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.done[key]; !ok {
			e.done[key] = ev
			e.order = append(e.order, key)
			if len(e.order) > maxKeptEvaluations {
				delete(e.done, e.order[0])
				e.order = e.order[1:]
			}
		}
		return ev, nil
	})
}

// takeEvalSlot takes one of the evaluations' slots: each loads a
// backbone's graph. (Inspections share the submissions' slots.)
func (s *Server) takeEvalSlot() error {
	return takeSlot(s.evals.slots, s.opts.MaxConcurrentEvaluations, "evaluations", "--max-concurrent-evaluations")
}
