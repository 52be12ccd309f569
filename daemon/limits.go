package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy answers a request the daemon cannot take now (503, Retry-After).
var ErrBusy = errors.New("daemon: busy")

// budget is a weighted semaphore: requests take units (bytes, slots) and
// wait a bounded time for them.
type budget struct {
	mu      sync.Mutex
	max     int64
	used    int64
	changed chan struct{} // closed and replaced at every release
}

func newBudget(max int64) *budget { return &budget{max: max, changed: make(chan struct{})} }

// acquire takes n units, waiting at most wait (or until ctx ends).
func (b *budget) acquire(ctx context.Context, n int64, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// limitListener caps the open connections. One over the cap is answered
// at once with 503 and closed, rather than left waiting in the backlog.
type limitListener struct {
	net.Listener
	max  int64
	open atomic.Int64
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, max: int64(max)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		go refuse(c, fmt.Sprintf("too many connections: this daemon serves at most %d at once (--max-connections); retry shortly", l.max))
	}
}

// refuse answers a connection it will not serve with 503 and closes it.
func refuse(c net.Conn, msg string) {
	defer c.Close()
	b, _ := json.Marshal(map[string]string{"error": msg})
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// authLimiter slows down guessing the token: an address with
// maxAuthFails missing or wrong tokens within authWindow gets 429 for
// every further failing request until the window ends. A request with
// the right token is never asked (http.go checks the token first).
type authLimiter struct {
	mu    sync.Mutex
	fails map[string]*authFails
}

type authFails struct {
	n     int
	since time.Time
}

const (
	maxAuthFails = 10
	authWindow   = 10 * time.Second
)

func (l *authLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[addr]
	if f != nil && time.Since(f.since) > authWindow {
		delete(l.fails, addr)
		return true
	}
	return f == nil || f.n < maxAuthFails
}

func (l *authLimiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[string]*authFails{}
	}
	if len(l.fails) > 10000 { // bounded: forget the oldest news
		clear(l.fails)
	}
	f := l.fails[addr]
	if f == nil {
		f = &authFails{since: time.Now()}
		l.fails[addr] = f
	}
	f.n++
}
