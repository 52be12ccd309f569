package daemon

import (
	"sync"

	"github.com/graft-ml/graft/api"
)

// hub wakes the event streams of a job when its log grows. The events
// themselves are read from the store, so a stream never misses one.
type hub struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newHub() *hub { return &hub{ch: map[string]chan struct{}{}} }

// wait returns a channel closed at the next change of job id.
func (h *hub) wait(id string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.ch[id]
	if !ok {
		c = make(chan struct{})
		h.ch[id] = c
	}
	return c
}

// notify wakes the streams of job id; evs are the appended events (a state
// change without events wakes them too).
func (h *hub) Notify(id string, _ []api.JobEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.ch[id]; ok {
		close(c)
		delete(h.ch, id)
	}
}
