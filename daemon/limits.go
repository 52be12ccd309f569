package daemon

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
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

// connGuard keeps slow or many connections from starving the others. A
// connection is pending from its accept until its first request's headers
// are read (bounded by the server's ReadHeaderTimeout), then served:
//   - served connections are capped at max (--max-connections): one more
//     is answered 503 at its first request;
//   - pending ones are capped at max too, in a pool of their own: a new
//     one beyond it closes the one that has waited longest, so clients
//     trickling their headers (slowloris) cannot keep a fresh connection
//     out, which sends its headers at once;
//   - one address other than the loopback may hold at most perAddr of
//     either kind (--max-connections-per-address): one more is answered
//     503 at once. Loopback clients all share 127.0.0.1 (or ::1), so there
//     a per-address cap would only be a smaller global one: they are held
//     by the two pools above.
type connGuard struct {
	net.Listener
	max, perAddr int
	mu           sync.Mutex
	pending      list.List // *guardedConn, oldest first
	served       int
	byAddr       map[string]int
}

func newConnGuard(ln net.Listener, max, perAddr int) *connGuard {
	return &connGuard{Listener: ln, max: max, perAddr: perAddr, byAddr: map[string]int{}}
}

func (g *connGuard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		g.mu.Lock()
		if !IsLoopback(addr) && g.byAddr[addr] >= g.perAddr {
			g.mu.Unlock()
			go refuse(c, fmt.Sprintf("too many connections from %s: this daemon serves at most %d from one address (--max-connections-per-address); close some and retry", addr, g.perAddr))
			continue
		}
		var evict *guardedConn
		if g.pending.Len() >= g.max {
			evict = g.pending.Remove(g.pending.Front()).(*guardedConn)
			evict.elem = nil
		}
		gc := &guardedConn{Conn: c, g: g, addr: addr}
		gc.elem = g.pending.PushBack(gc)
		g.byAddr[addr]++
		g.mu.Unlock()
		if evict != nil {
			evict.Close()
		}
		return gc, nil
	}
}

// refuse answers a connection it will not serve with 503 and closes it.
func refuse(c net.Conn, msg string) {
	defer c.Close()
	b, _ := json.Marshal(map[string]string{"error": msg})
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
}

// guardedConn is a connection counted by its connGuard.
type guardedConn struct {
	net.Conn
	g      *connGuard
	addr   string
	elem   *list.Element // in g.pending while pending
	served bool
	closed bool
}

// serve moves c from pending to served at a request's start, and reports
// false when the served connections are at their cap.
func (c *guardedConn) serve() bool {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.served {
		return true
	}
	if c.elem != nil {
		g.pending.Remove(c.elem)
		c.elem = nil
	}
	if g.served >= g.max || c.closed {
		return false
	}
	c.served = true
	g.served++
	return true
}

func (c *guardedConn) Close() error {
	g := c.g
	g.mu.Lock()
	if !c.closed {
		c.closed = true
		if c.elem != nil {
			g.pending.Remove(c.elem)
			c.elem = nil
		}
		if c.served {
			g.served--
		}
		if g.byAddr[c.addr]--; g.byAddr[c.addr] <= 0 {
			delete(g.byAddr, c.addr)
		}
	}
	g.mu.Unlock()
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

type connKey struct{}

// withConn keeps a request's connection in its context, for admitting.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// admitting counts each request's connection as served before next sees
// the request; one over --max-connections is answered 503 and closed.
func admitting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gc, ok := r.Context().Value(connKey{}).(*guardedConn)
		if ok && !gc.serve() {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("too many connections: this daemon serves at most %d at once (--max-connections); retry shortly", gc.g.max))
			return
		}
		next.ServeHTTP(w, r)
	})
}
