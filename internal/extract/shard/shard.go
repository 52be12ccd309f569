package shard

import (
	"context"
	"fmt"
	"sync"
)

// DefaultSize is how many samples a shard holds unless told.
const DefaultSize = 4096

// DefaultAttempts is how many times a shard is tried before the job fails.
const DefaultAttempts = 3

// Task is one shard: samples [Lo, Hi) of the run's sample list.
type Task struct {
	Index int `json:"index"`
	Lo    int `json:"lo"`
	Hi    int `json:"hi"`
	// Attempt counts from 1.
	Attempt int `json:"attempt"`
	// First is the shard's first sample (its file), to name it in errors.
	First string `json:"first,omitempty"`
}

func (t Task) String() string {
	return fmt.Sprintf("shard %d (samples %d-%d, first %s)", t.Index, t.Lo, t.Hi-1, t.First)
}

// Plan cuts n samples into shards of size (the last one shorter); name
// gives a sample's ID for Task.First.
func Plan(n, size int, name func(i int) string) ([]Task, error) {
	if size < 1 {
		return nil, fmt.Errorf("shard: shard size %d: use a positive number of samples (e.g. --shard-size %d)", size, DefaultSize)
	}
	var ts []Task
	for lo := 0; lo < n; lo += size {
		ts = append(ts, Task{Index: len(ts), Lo: lo, Hi: min(lo+size, n), First: name(lo)})
	}
	return ts, nil
}

// Result is what one shard did: its counts, and the seconds its worker
// spent decoding and in the backbone.
type Result struct {
	Computed, Hits, Bad            int
	DecodeSeconds, BackboneSeconds float64
}

// Progress is where a Run stands: shards done of Total, how many are
// running, and the retries so far.
type Progress struct {
	Done, Total, Running, Retries int
}

// Options control a Run.
type Options struct {
	Workers  int // shards at once; <= 0: 1
	Attempts int // tries per shard; <= 0: DefaultAttempts
	// Progress, when set, hears every change (from one goroutine at a
	// time).
	Progress func(Progress)
}

// Error is a shard that failed all its attempts.
type Error struct {
	Task     Task
	Attempts int
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("shard: %s failed %d attempts, the last: %v", e.Task, e.Attempts, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs every task through run, o.Workers at a time. A failed task is
// queued again with Attempt+1 until it has had o.Attempts tries; then the
// running ones are cancelled and Run returns its *Error. Finished tasks
// are never run again. The results are summed.
func Run(ctx context.Context, tasks []Task, o Options, run func(context.Context, Task) (Result, error)) (Result, error) {
	workers, attempts := max(o.Workers, 1), o.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		total Result
		st    = Progress{Total: len(tasks)}
		fail  error
		queue = make([]Task, 0, len(tasks))
		wake  = make(chan struct{}, workers)
		wg    sync.WaitGroup
	)
	for _, t := range tasks {
		t.Attempt = 1
		queue = append(queue, t)
	}
	report := func() { // mu held
		if o.Progress != nil {
			o.Progress(st)
		}
	}
	// next takes a task, waiting while others run that may fail and
	// come back; ok is false when nothing is left to do.
	next := func() (Task, bool) {
		for {
			mu.Lock()
			if fail != nil || ctx.Err() != nil || st.Done == st.Total {
				mu.Unlock()
				return Task{}, false
			}
			if len(queue) > 0 {
				t := queue[0]
				queue = queue[1:]
				st.Running++
				report()
				mu.Unlock()
				return t, true
			}
			mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
			}
		}
	}
	mu.Lock()
	report()
	mu.Unlock()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t, ok := next()
				if !ok {
					return
				}
				res, err := run(ctx, t)
				mu.Lock()
				st.Running--
				switch {
				case err == nil:
					st.Done++
					total.Computed += res.Computed
					total.Hits += res.Hits
					total.Bad += res.Bad
					total.DecodeSeconds += res.DecodeSeconds
					total.BackboneSeconds += res.BackboneSeconds
				case ctx.Err() != nil:
					// cancelled: the job stops, no retry
				case t.Attempt < attempts:
					t.Attempt++
					st.Retries++
					queue = append(queue, t)
				default:
					if fail == nil {
						fail = &Error{Task: t, Attempts: attempts, Err: err}
						cancel()
					}
				}
				report()
				mu.Unlock()
				for range workers { // the idle ones look again
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	if fail != nil {
		return total, fail
	}
	if st.Done < st.Total { // the caller cancelled
		return total, fmt.Errorf("shard: %d of %d shards done: %w", st.Done, st.Total, ctx.Err())
	}
	return total, nil
}
