package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// flight runs one call per key at a time: a caller arriving while the
// key's call runs waits for it and shares its result (one export build
// per version, one evaluation per job).
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func (f *flight[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.v, c.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	if f.calls == nil {
		f.calls = map[string]*flightCall[T]{}
	}
	c := &flightCall[T]{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = fn()
	return c.v, c.err
}

// heavyWait is how long an export build or an evaluation waits for a slot
// before it is answered 503: they take seconds, so a client is better
// told to come back than kept waiting.
const heavyWait = time.Second

// statusError is an error with the HTTP status that answers it.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// takeSlot takes one of b's slots for what ("export builds",
// "evaluations") or says which flag bounds them.
func takeSlot(b *budget, max int, what, flag string) error {
	if err := b.acquire(context.Background(), 1, heavyWait); err != nil {
		return &statusError{http.StatusServiceUnavailable, fmt.Errorf("%w: %d %s in flight (%s); retry shortly", ErrBusy, max, what, flag)}
	}
	if h := slotHook.Load(); h != nil {
		(*h)(what)
	}
	return nil
}

// slotHook, when set (tests only), runs while an export build or an
// evaluation holds its slot, so a test can hold it.
var slotHook atomic.Pointer[func(kind string)]

// writeStatusError answers err: a statusError with its code (503 with
// Retry-After), anything else with fallback.
func writeStatusError(w http.ResponseWriter, err error, fallback int) {
	code := fallback
	var se *statusError
	if errors.As(err, &se) {
		code = se.code
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeError(w, code, err)
}

// extendWrite gives what is left of an answer d more to be written: the
// server's write timeout runs from the request's arrival, and building an
// export or an evaluation may have used it up.
func extendWrite(w http.ResponseWriter, d time.Duration) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}
