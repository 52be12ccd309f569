package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// heartbeat keeps idle event streams open through proxies.
const heartbeat = 15 * time.Second

// jobEvents streams a job's events as Server-Sent Events: each with its
// sequence number as id, from after Last-Event-ID (header) or else
// ?after=N, until the job ends (or the client or the daemon goes away);
// with ?follow=false it sends the events there are now and ends. The
// header wins: a browser reconnecting keeps the URL it started with and
// sends the last id it saw.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.store.Job(id); err != nil {
		writeStoreError(w, err)
		return
	}
	var after uint64
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("Last-Event-ID/after %q: want an event sequence number (0 to %d)", v, uint64(math.MaxUint64)))
			return
		}
		after = n
	}
	follow := r.URL.Query().Get("follow") != "false"
	if err := s.streams.acquire(r.Context(), 1, 0); err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%w: %d event streams are open, this daemon's limit (--max-event-streams); close one or retry later (GET /v1/jobs/ID shows progress too)", ErrBusy, s.opts.MaxEventStreams))
		return
	}
	defer s.streams.release(1)
	// A stream lasts as long as its job: no read or write deadline.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		wake := s.hub.wait(id) // before reading, so no change slips between
		j, err := s.store.Job(id)
		if err != nil {
			return
		}
		for {
			evs, err := s.store.Events(id, after, 256)
			if err != nil {
				return
			}
			for _, e := range evs {
				b, _ := json.Marshal(e)
				b = bytes.ReplaceAll(b, nel, nelEscaped)
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
				after = e.Seq
			}
			if len(evs) < 256 {
				break
			}
		}
		flusher.Flush()
		if j.State.Final() || !follow {
			return
		}
		select {
		case <-wake:
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// U+0085 (NEL) is valid raw inside a JSON string, and Go leaves it so; but
// a client that splits lines the Unicode way (Python's str.splitlines)
// breaks an event there. Raw, it can only be inside a string, where its
// escape means the same.
var nel, nelEscaped = []byte("\u0085"), []byte(`\u0085`)
