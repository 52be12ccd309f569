package daemon

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/daemon/api"
	"github.com/graft-ml/graft/internal/images"
	"github.com/graft-ml/graft/internal/predict"
	"github.com/graft-ml/graft/internal/train"
)

// MaxPredictImages bounds the images of one predict request.
const MaxPredictImages = 1024

// ErrInput reports a predict request the model cannot take.
var ErrInput = errors.New("bad input")

// loaded is a trained run in memory. Its backbone is not safe for
// concurrent use, so predictions on one model take turns.
type loaded struct {
	mu      sync.Mutex
	t       *train.Trained
	cls     backbone.Backbone
	h, w, c int
	mode    string
	closed  bool
}

// modelCache keeps the most recently used models loaded.
type modelCache struct {
	mu    sync.Mutex
	size  int
	order []string // least recently used first
	m     map[string]*loaded
}

func newModelCache(size int) *modelCache { return &modelCache{size: size, m: map[string]*loaded{}} }

// get returns the loaded run of m, loading it on first use and evicting
// the least recently used model beyond the cache size.
func (c *modelCache) get(m *api.Model) (*loaded, error) {
	k := fmt.Sprintf("%s@%d", m.Name, m.Version)
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.m[k]; ok {
		c.touch(k)
		return l, nil
	}
	t, err := train.LoadRun(m.RunDir)
	if err != nil {
		return nil, err
	}
	cls := t.Classifier()
	h, w, ch, err := predict.InputSize(cls)
	if err != nil {
		t.Close()
		return nil, err
	}
	l := &loaded{t: t, cls: cls, h: h, w: w, c: ch, mode: t.Config.Preprocess}
	c.m[k] = l
	c.order = append(c.order, k)
	for len(c.order) > c.size {
		old := c.m[c.order[0]]
		delete(c.m, c.order[0])
		c.order = c.order[1:]
		old.mu.Lock()
		old.closed = true
		old.t.Close()
		old.mu.Unlock()
	}
	return l, nil
}

func (c *modelCache) touch(k string) {
	for i, o := range c.order {
		if o == k {
			c.order = append(append(c.order[:i:i], c.order[i+1:]...), k)
			return
		}
	}
}

// close unloads every model.
func (c *modelCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.m {
		l.mu.Lock()
		l.closed = true
		l.t.Close()
		l.mu.Unlock()
	}
	c.m, c.order = map[string]*loaded{}, nil
}

// predict decodes the images for the model's input and preprocessing and
// returns one row of class probabilities per image.
func (l *loaded) predict(ctx context.Context, imgs []api.Image) ([][]float32, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: no images: send {\"instances\": [{\"b64\": \"...\"}]}", ErrInput)
	}
	if len(imgs) > MaxPredictImages {
		return nil, fmt.Errorf("%w: %d images; send at most %d per request", ErrInput, len(imgs), MaxPredictImages)
	}
	per := l.h * l.w * l.c
	data := make([]float32, 0, len(imgs)*per)
	for i, img := range imgs {
		b, err := base64.StdEncoding.DecodeString(img.B64)
		if err != nil {
			return nil, fmt.Errorf("%w: image %d: b64: %v", ErrInput, i, err)
		}
		x, err := images.FromBytes(b, l.h, l.w, l.c, l.mode)
		if err != nil {
			return nil, fmt.Errorf("%w: image %d: %v", ErrInput, i, err)
		}
		data = append(data, x...)
	}
	in, err := tensor.FromFloat32(data, len(imgs), l.h, l.w, l.c)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("daemon: the model was unloaded; retry")
	}
	out, err := l.cls.Features(ctx, in)
	if err != nil {
		return nil, err
	}
	k := out.Len() / len(imgs)
	rows := make([][]float32, len(imgs))
	for i := range rows {
		rows[i] = append([]float32(nil), out.F32[i*k:(i+1)*k]...)
	}
	return rows, nil
}
