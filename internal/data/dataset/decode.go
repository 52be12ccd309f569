package dataset

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/data/images"
)

// BadFilePolicy says what Decode does with an image it cannot use.
type BadFilePolicy int

const (
	// Skip leaves bad images out and reports them in Decoded.Bad.
	Skip BadFilePolicy = iota
	// Fail stops at the first bad image (in sample order) with an error.
	Fail
)

// String returns "skip" or "fail".
func (p BadFilePolicy) String() string {
	switch p {
	case Skip:
		return "skip"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("BadFilePolicy(%d)", int(p))
}

// ParsePolicy parses "skip" or "fail" (e.g. --on-bad-file).
func ParsePolicy(s string) (BadFilePolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "skip":
		return Skip, nil
	case "fail":
		return Fail, nil
	}
	return 0, fmt.Errorf("%w: bad-file policy %q: use skip or fail", ErrArgument, s)
}

// BadFile is an image that could not be used, and why.
type BadFile = api.BadFile

// Decoded holds a data set's images decoded, resized and preprocessed.
type Decoded struct {
	H, W, C int
	Mode    string
	Classes []string
	// Images are the N images, row-major [N,H,W,C], in sample order.
	Images []float32
	// Labels, Digests, IDs and Index have one entry per image: its class
	// index, the SHA-256 of its encoded bytes (the feature cache's key),
	// its sample ID, and its index in the decoded data set's Samples.
	Labels  []int
	Digests [][sha256.Size]byte
	IDs     []string
	Index   []int
	// Bad lists the samples left out (policy Skip), in sample order.
	Bad []BadFile
}

// Len is the number of decoded images.
func (d *Decoded) Len() int { return len(d.Labels) }

// Image returns image i, H*W*C values (a view into Images).
func (d *Decoded) Image(i int) []float32 {
	sz := d.H * d.W * d.C
	return d.Images[i*sz : (i+1)*sz : (i+1)*sz]
}

// MaxDecodeValues bounds one Decode call's output (float32 values, 64 GiB):
// larger requests are refused with advice instead of exhausting memory.
const MaxDecodeValues = 1 << 34

type decodeResult struct {
	digest [sha256.Size]byte
	err    error
	done   bool
}

// Decode reads every sample of ds, decodes it (PNG or JPEG), resizes it to
// h x w, adapts it to c channels (1 or 3) and applies the preprocessing
// mode (images.Modes), on workers goroutines (<= 0: GOMAXPROCS). The
// output order is the sample order whatever the scheduling. An image over
// ds.MaxPixels is refused from its header, before decoding, and decodes
// share the process's images.DecodeMemory. A sample that cannot be read
// or decoded (or is too large) is dropped and reported in Decoded.Bad with
// policy Skip; with Fail, Decode returns an ErrBadFile error naming the
// first bad sample. If every sample is bad, the error is ErrEmpty (with
// the Decoded that lists them in Bad). A
// cancelled ctx stops the work and returns ctx's error.
func Decode(ctx context.Context, ds *Dataset, h, w, c int, mode string, policy BadFilePolicy, workers int) (*Decoded, error) {
	return DecodeInto(ctx, nil, ds, h, w, c, mode, policy, workers)
}

// DecodeInto is Decode writing the images into buf when it has the
// capacity (a buffer a caller is done with: its decoded images are
// overwritten), else into a new one.
func DecodeInto(ctx context.Context, buf []float32, ds *Dataset, h, w, c int, mode string, policy BadFilePolicy, workers int) (*Decoded, error) {
	if h < 1 || w < 1 || (c != 1 && c != 3) {
		return nil, fmt.Errorf("%w: image size %dx%dx%d: need HxWx1 or HxWx3 with H, W >= 1", ErrArgument, h, w, c)
	}
	if !slices.Contains(images.Modes, mode) {
		return nil, fmt.Errorf("%w: preprocessing %q: use one of %s", ErrArgument, mode, strings.Join(images.Modes, ", "))
	}
	if policy != Skip && policy != Fail {
		return nil, fmt.Errorf("%w: bad-file policy %v: use Skip or Fail", ErrArgument, policy)
	}
	n := len(ds.Samples)
	if float64(h)*float64(w)*float64(c)*float64(max(n, 1)) > MaxDecodeValues {
		return nil, fmt.Errorf("%w: %d images of %dx%dx%d are more than %g values: decode the data set in slices (Dataset.Slice)", ErrArgument, n, h, w, c, float64(MaxDecodeValues))
	}
	sz := h * w * c
	for _, s := range ds.Samples {
		if !s.gone && (s.Label < 0 || s.Label >= len(ds.Classes)) { // a Gone sample is a bad file
			return nil, fmt.Errorf("%w: sample %s has label %d outside the %d classes", ErrArgument, s.ID, s.Label, len(ds.Classes))
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s: nothing to decode", ErrEmpty, ds.Source)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)

	out := buf
	if cap(out) < n*sz {
		out = make([]float32, n*sz)
	}
	out = out[:n*sz]
	results := make([]decodeResult, n)
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				r := &results[i]
				r.done = true
				b, err := ds.Samples[i].Encoded()
				if err == nil {
					r.digest = sha256.Sum256(b)
					var aug func([]float32)
					if v := ds.Samples[i].View; v != 0 && ds.Augment != nil {
						aug = func(x []float32) { ds.Augment.Apply(x, h, w, c, r.digest, v) }
					}
					var x []float32
					x, err = images.FromBytesAugmented(b, h, w, c, mode, ds.MaxPixels, aug)
					if err == nil {
						copy(out[i*sz:(i+1)*sz], x)
					}
				}
				if err != nil {
					r.err = err
					if policy == Fail {
						stop.Store(true)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dataset: decoding %s: %w", ds.Source, err)
	}

	d := &Decoded{H: h, W: w, C: c, Mode: mode, Classes: slices.Clone(ds.Classes)}
	kept := 0
	for i := range results {
		r := &results[i]
		if !r.done {
			// Only possible after a Fail stop; an earlier index failed.
			break
		}
		s := ds.Samples[i]
		if r.err != nil {
			if policy == Fail {
				return nil, hint.With(fmt.Errorf("%w: %s: %w", ErrBadFile, s.ID, r.err), "--on-bad-file skip leaves bad files out and lists them")
			}
			d.Bad = append(d.Bad, BadFile{Path: s.ID, Reason: r.err.Error()})
			continue
		}
		if kept != i {
			copy(out[kept*sz:(kept+1)*sz], out[i*sz:(i+1)*sz])
		}
		kept++
		d.Labels = append(d.Labels, s.Label)
		d.Digests = append(d.Digests, r.digest)
		d.IDs = append(d.IDs, s.ID)
		d.Index = append(d.Index, i)
	}
	if kept == 0 {
		return d, fmt.Errorf("%w: all %d images of %s are bad; the first, %s: %s", ErrEmpty, n, ds.Source, d.Bad[0].Path, d.Bad[0].Reason)
	}
	d.Images = out[: kept*sz : kept*sz]
	return d, nil
}
