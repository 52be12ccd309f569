package featcache

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const (
	leaseDir = ".leases"
	// leaseTTL is how long a lease outlives its last refresh; a live
	// process refreshes it every leaseTTL/4.
	leaseTTL = 2 * time.Minute
)

// leaseRecord is a lease file.
type leaseRecord struct {
	Namespace string    `json:"namespace"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Expires   time.Time `json:"expires"`
}

// live says whether the lease still holds: not expired, and, on this
// host, its process still there.
func (r leaseRecord) live(host string, now time.Time) bool {
	if now.After(r.Expires) {
		return false
	}
	return r.Host != host || r.PID == os.Getpid() || alive(r.PID)
}

var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// Lease keeps a namespace's entries from eviction until Release (or
// until its process dies or stops refreshing it for leaseTTL).
type Lease struct {
	n    *Namespace
	path string
	stop chan struct{}
	done chan struct{}
}

// Lease leases n: a job holds it from before its first lookup until it
// last reads the cache.
func (n *Namespace) Lease() (*Lease, error) {
	dir := filepath.Join(n.root, leaseDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("featcache: %w", err)
	}
	var id [6]byte
	rand.Read(id[:])
	l := &Lease{n: n, path: filepath.Join(dir, fmt.Sprintf("%s-%d-%s.json", n.name, os.Getpid(), hex.EncodeToString(id[:]))),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.write(); err != nil {
		return nil, err
	}
	go l.refresh()
	return l, nil
}

func (l *Lease) write() error {
	raw, _ := json.Marshal(leaseRecord{Namespace: l.n.name, Host: hostname(), PID: os.Getpid(), Expires: time.Now().Add(leaseTTL)})
	return replace(l.path, raw)
}

func (l *Lease) refresh() {
	defer close(l.done)
	t := time.NewTicker(leaseTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.write() // a failure leaves the lease to expire: eviction, then recomputing, not a failed job
		}
	}
}

// Release ends the lease, adds the namespace's lookups to the cache's
// counts and trims a cache the lease kept over its cap.
func (l *Lease) Release() error {
	close(l.stop)
	<-l.done
	os.Remove(l.path)
	return l.n.count(nil, true)
}

// Flush adds the lookups not yet counted to the cache's shared counts
// (Put and Release do as well).
func (n *Namespace) Flush() error { return n.count(nil, false) }

// liveLeases are the namespaces leased under root; with tidy it removes
// the lease files that no longer hold.
func liveLeases(root string, tidy bool) map[string]bool {
	dir := filepath.Join(root, leaseDir)
	files, _ := os.ReadDir(dir)
	out := map[string]bool{}
	now, host := time.Now(), hostname()
	for _, f := range files {
		if f.IsDir() || filepath.Ext(f.Name()) != ".json" {
			continue
		}
		p := filepath.Join(dir, f.Name())
		var r leaseRecord
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if json.Unmarshal(raw, &r) != nil || !r.live(host, now) {
			if tidy {
				os.Remove(p)
			}
			continue
		}
		out[r.Namespace] = true
	}
	return out
}
