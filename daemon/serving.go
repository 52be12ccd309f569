package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/infer/predict"
)

// MaxPredictImages bounds the images of one predict request.
const MaxPredictImages = 1024

// ErrInput reports a predict request the model cannot take.
var ErrInput = errors.New("bad input")

// loaded is a trained run in memory. Its backbone is not safe for
// concurrent use, so predictions on one model take turns. A request holds
// a reference while it uses the model: eviction only drops it from the
// cache, and the last reference closes it.
type loaded struct {
	mu      sync.Mutex // serialises Features
	t       *predict.Trained
	cls     *predict.Classifier
	h, w, c int
	mode    string

	ready   chan struct{} // closed when loading ends (err says how)
	err     error
	refs    int  // guarded by modelCache.mu
	evicted bool // guarded by modelCache.mu: out of the cache
}

// modelCache keeps the most recently used models loaded. Loading happens
// outside its lock: requests for other models go on meanwhile, and
// requests for the model being loaded wait for that one load.
type modelCache struct {
	mu    sync.Mutex
	size  int
	order []string // least recently used first
	m     map[string]*loaded
}

func newModelCache(size int) *modelCache { return &modelCache{size: size, m: map[string]*loaded{}} }

// get returns the loaded run of m, loading it on first use and evicting
// the least recently used models beyond the cache size; release it when
// done.
func (c *modelCache) get(m *api.Model) (*loaded, error) {
	k := versionKey(m.Name, m.Version)
	c.mu.Lock()
	l, ok := c.m[k]
	if ok {
		l.refs++
		c.touch(k)
		c.mu.Unlock()
		<-l.ready
		if l.err != nil {
			c.release(l)
			return nil, l.err
		}
		return l, nil
	}
	l = &loaded{ready: make(chan struct{}), refs: 1}
	c.m[k] = l
	c.order = append(c.order, k)
	c.evictLocked()
	c.mu.Unlock()

	l.err = l.load(m.RunDir)
	if l.err != nil {
		c.mu.Lock()
		if c.m[k] == l { // a failed load is not cached: the next request retries
			delete(c.m, k)
			c.order = deleteKey(c.order, k)
		}
		l.evicted = true
		c.mu.Unlock()
	}
	close(l.ready)
	if l.err != nil {
		c.release(l)
		return nil, l.err
	}
	return l, nil
}

func (l *loaded) load(runDir string) error {
	t, err := predict.LoadRun(runDir)
	if err != nil {
		return err
	}
	cls := t.Classifier()
	h, w, ch, err := predict.InputSize(cls)
	if err != nil {
		t.Close()
		return err
	}
	l.t, l.cls, l.h, l.w, l.c, l.mode = t, cls, h, w, ch, t.Config.Preprocess
	return nil
}

// release drops a reference; the last one of an evicted model closes it.
func (c *modelCache) release(l *loaded) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.refs--
	if l.refs == 0 && l.evicted && l.t != nil {
		l.t.Close()
		l.t = nil
	}
}

// evictLocked drops the least recently used models beyond the size.
func (c *modelCache) evictLocked() {
	for len(c.order) > c.size {
		old := c.m[c.order[0]]
		delete(c.m, c.order[0])
		c.order = c.order[1:]
		old.evicted = true
		if old.refs == 0 && old.t != nil {
			old.t.Close()
			old.t = nil
		}
	}
}

func deleteKey(order []string, k string) []string {
	for i, o := range order {
		if o == k {
			return append(order[:i:i], order[i+1:]...)
		}
	}
	return order
}

func (c *modelCache) touch(k string) {
	c.order = append(deleteKey(c.order, k), k)
}

// drop unloads a deleted version (k: versionKey), at once when no
// request uses it, else when the last one ends.
func (c *modelCache) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[k]
	if !ok {
		return
	}
	delete(c.m, k)
	c.order = deleteKey(c.order, k)
	l.evicted = true
	if l.refs == 0 && l.t != nil {
		l.t.Close()
		l.t = nil
	}
}

// close unloads every model (those in use when their requests end).
func (c *modelCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size = 0
	c.evictLocked()
}

// sizeImages reads each image's header, without decoding it, and returns
// what decoding them all will cost; an image over the pixel cap is refused
// before any decoding.
func (s *Server) sizeImages(raws [][]byte) (int64, error) {
	var cost int64
	for i, b := range raws {
		hd, err := images.ReadHeader(b)
		if err != nil {
			return 0, fmt.Errorf("%w: image %d: %v: send a PNG or JPEG file", ErrInput, i, err)
		}
		if err := hd.Check(s.opts.MaxImagePixels); err != nil {
			return 0, &tooLarge{fmt.Errorf("image %d: %w", i, err)}
		}
		// The model's input size is known once it loads; the source
		// pixels dominate the cost anyway.
		cost += hd.Cost(0, 0, 3)
	}
	if cost > s.opts.PredictMemory {
		return 0, &tooLarge{fmt.Errorf("decoding these %d images takes about %d bytes, over this daemon's --predict-memory of %d: send fewer or smaller images per request", len(raws), cost, s.opts.PredictMemory)}
	}
	return cost, nil
}

// tooLarge is a request over a size limit: 413.
type tooLarge struct{ error }

// predictWait is how long a prediction waits for memory or a slot before
// it is answered 503.
const predictWait = 5 * time.Second

// predict decodes the images for the model's input and preprocessing and
// returns one row of class probabilities per image; an image over
// maxPixels is refused from its header.
func (l *loaded) predict(ctx context.Context, raws [][]byte, maxPixels int64) ([][]float32, error) {
	per := l.h * l.w * l.c
	data := make([]float32, 0, len(raws)*per)
	for i, b := range raws {
		x, err := images.FromBytes(b, l.h, l.w, l.c, l.mode, maxPixels)
		if err != nil {
			return nil, fmt.Errorf("%w: image %d: %v", ErrInput, i, err)
		}
		data = append(data, x...)
	}
	in, err := tensor.FromFloat32(data, len(raws), l.h, l.w, l.c)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out, err := l.cls.Predict(ctx, in)
	if err != nil {
		return nil, err
	}
	k := out.Len() / len(raws)
	rows := make([][]float32, len(raws))
	for i := range rows {
		rows[i] = append([]float32(nil), out.F32[i*k:(i+1)*k]...)
	}
	return rows, nil
}
