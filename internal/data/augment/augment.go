package augment

import (
	"crypto/sha256"
	"encoding/binary"
)

// Augmenter makes the views of one run: its spec and seed.
type Augmenter struct {
	Spec Spec
	Seed uint64
}

// Params are one view's drawn parameters, in Keras's units.
type Params struct {
	Flip       bool
	Turns      float64 // rotation, a fraction of a full turn
	ZoomH      float64 // 1 + the drawn height factor
	ZoomW      float64
	TransH     float64 // shift, a fraction of the height
	TransW     float64
	Brightness float64 // delta on 0..255
	Contrast   float64 // factor
}

// Draw returns the parameters of view of the image with this digest:
// eight uniforms from a hash of (seed, digest, view), one fixed slot per
// parameter, so adding a transform to a spec leaves the others' draws.
func (a Augmenter) Draw(digest [32]byte, view int) Params {
	h := sha256.New()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], a.Seed)
	binary.LittleEndian.PutUint64(buf[8:], uint64(view))
	h.Write([]byte("graft-augment-draw\x00"))
	h.Write(buf[:])
	h.Write(digest[:])
	sum := h.Sum(nil)
	u := func(slot int) float64 { return float64(binary.LittleEndian.Uint32(sum[4*slot:])) / (1 << 32) }
	sym := func(slot int, f float64) float64 { return f * (2*u(slot) - 1) }
	s := a.Spec
	p := Params{
		Flip:       s.Flip && u(0) < 0.5,
		Turns:      sym(1, s.Rotation),
		ZoomH:      1 + sym(2, s.ZoomH),
		ZoomW:      1 + sym(3, s.ZoomW),
		TransH:     sym(4, s.TransH),
		TransW:     sym(5, s.TransW),
		Brightness: 255 * sym(6, s.Brightness),
		Contrast:   1 + sym(7, s.Contrast),
	}
	if s.ZoomKeep {
		p.ZoomW = p.ZoomH
	}
	return p
}

// Matrix is the view's geometry as one resampling: Keras's layers in the
// order flip, rotation, zoom, translation, composed so that the image is
// interpolated once (Keras interpolates after each layer).
func (p Params) Matrix(h, w int) Matrix {
	m := Identity
	if p.Flip {
		m = FlipMatrix(w)
	}
	return m.Then(RotationMatrix(p.Turns, h, w)).
		Then(ZoomMatrix(p.ZoomH, p.ZoomW, h, w)).
		Then(TranslationMatrix(p.TransH*float64(h), p.TransW*float64(w)))
}

// Apply makes view of the h x w x c image img (0..255, in place): view 0
// is the image itself, the others drawn (Draw). The geometry comes first,
// then brightness, then contrast.
func (a Augmenter) Apply(img []float32, h, w, c int, digest [32]byte, view int) {
	if view == 0 {
		return
	}
	p := a.Draw(digest, view)
	if a.Spec.geometric() {
		src := append([]float32(nil), img...)
		Warp(img, src, h, w, c, p.Matrix(h, w))
	}
	if a.Spec.Brightness != 0 {
		Brightness(img, p.Brightness)
	}
	if a.Spec.Contrast != 0 {
		Contrast(img, c, p.Contrast)
	}
}

// EntryKey is the feature cache's key of view of the image with this
// digest: the digest itself for view 0 (the unaugmented features, shared
// with runs without --augment), else a hash of the spec, the seed, the
// digest and the view under its own prefix, so no view's key is an
// image's digest.
func (a Augmenter) EntryKey(digest [32]byte, view int) [32]byte {
	if view == 0 {
		return digest
	}
	h := sha256.New()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], a.Seed)
	binary.LittleEndian.PutUint64(buf[8:], uint64(view))
	h.Write([]byte("graft-augment-v1\x00" + a.Spec.String() + "\x00"))
	h.Write(buf[:])
	h.Write(digest[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// ViewOf is the view of the image with this digest that epoch (from 0)
// trains on, of k: (epoch + the digest's first 4 bytes) mod k, so every
// view comes once in k epochs and the images' views are staggered.
func ViewOf(digest [32]byte, epoch, k int) int {
	if k <= 1 {
		return 0
	}
	return int((uint64(epoch) + uint64(binary.LittleEndian.Uint32(digest[:4]))) % uint64(k))
}
