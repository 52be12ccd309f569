package augment

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSpec reports an augmentation spec graft cannot read.
var ErrSpec = errors.New("augment: bad spec")

// Spec is what --augment sets: each factor is Keras's, a symmetric range
// [-f, f] (contrast: [1-f, 1+f]); 0 is off.
type Spec struct {
	Flip       bool    // horizontal flip, half of the views
	Rotation   float64 // fraction of a full turn: the angle is in [-f, f]*360 degrees
	ZoomH      float64 // zoom factor on the height: > 0 zooms out, < 0 in
	ZoomW      float64 // on the width; with ZoomKeep, the height's draw (aspect kept)
	ZoomKeep   bool    // zoom=H without :W, as Keras's width_factor=None
	TransH     float64 // vertical shift, a fraction of the height
	TransW     float64 // horizontal shift, a fraction of the width
	Brightness float64 // added delta in [-f, f]*255
	Contrast   float64 // (x-mean)*c+mean with c in [1-f, 1+f]
}

// Default is what --augment default means: the Keras guides' geometric
// augmentation for photographs.
const Default = "flip,rotation=0.1,zoom=0.1,translation=0.1"

// Syntax is the spec's grammar, for help texts and errors.
const Syntax = "a comma-separated list of flip, rotation=F, zoom=H[:W], translation=H[:W], brightness=F, contrast=F (Keras factors, each in [0, 1)), or default (" + Default + ")"

// Parse reads a spec such as "flip,rotation=0.1,zoom=0.1:0.2".
func Parse(s string) (Spec, error) {
	var sp Spec
	s = strings.TrimSpace(s)
	if s == "" {
		return sp, fmt.Errorf("%w: empty: use %s", ErrSpec, Syntax)
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
		if name == "default" && !hasVal && s == "default" {
			return Parse(Default)
		}
		if seen[name] {
			return Spec{}, fmt.Errorf("%w: %q given twice in %q", ErrSpec, name, s)
		}
		seen[name] = true
		var err error
		switch name {
		case "flip":
			if hasVal {
				err = errors.New("flip takes no value (it is horizontal, Keras's RandomFlip(\"horizontal\"))")
			}
			sp.Flip = true
		case "rotation":
			sp.Rotation, err = factor(val, hasVal)
		case "brightness":
			sp.Brightness, err = factor(val, hasVal)
		case "contrast":
			sp.Contrast, err = factor(val, hasVal)
		case "zoom":
			var keep bool
			sp.ZoomH, sp.ZoomW, keep, err = pair(val, hasVal)
			sp.ZoomKeep = keep
		case "translation":
			var keep bool
			sp.TransH, sp.TransW, keep, err = pair(val, hasVal)
			if keep {
				sp.TransW = sp.TransH
			}
		default:
			err = errors.New("unknown transform")
		}
		if err != nil {
			return Spec{}, fmt.Errorf("%w: %q: %v; use %s", ErrSpec, item, err, Syntax)
		}
	}
	if sp == (Spec{ZoomKeep: sp.ZoomKeep}) {
		return Spec{}, fmt.Errorf("%w: %q changes nothing (every factor 0): use %s", ErrSpec, s, Syntax)
	}
	return sp, nil
}

// factor reads one Keras factor in [0, 1).
func factor(v string, ok bool) (float64, error) {
	if !ok {
		return 0, errors.New("needs a factor, e.g. =0.1")
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f >= 0 && f < 1) {
		return 0, fmt.Errorf("factor %q must be a number in [0, 1)", v)
	}
	return f, nil
}

// pair reads H[:W]; keep reports that W was not given.
func pair(v string, ok bool) (h, w float64, keep bool, err error) {
	hs, ws, two := strings.Cut(v, ":")
	if h, err = factor(hs, ok); err != nil {
		return
	}
	if !two {
		return h, h, true, nil
	}
	w, err = factor(ws, true)
	return h, w, false, err
}

// String is the spec in its canonical form (fixed order, shortest
// numbers): what a run records and what the cache keys on.
func (s Spec) String() string {
	var parts []string
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	if s.Flip {
		parts = append(parts, "flip")
	}
	if s.Rotation != 0 {
		parts = append(parts, "rotation="+num(s.Rotation))
	}
	if s.ZoomH != 0 || s.ZoomW != 0 {
		z := "zoom=" + num(s.ZoomH)
		if !s.ZoomKeep {
			z += ":" + num(s.ZoomW)
		}
		parts = append(parts, z)
	}
	if s.TransH != 0 || s.TransW != 0 {
		parts = append(parts, "translation="+num(s.TransH)+":"+num(s.TransW))
	}
	if s.Brightness != 0 {
		parts = append(parts, "brightness="+num(s.Brightness))
	}
	if s.Contrast != 0 {
		parts = append(parts, "contrast="+num(s.Contrast))
	}
	return strings.Join(parts, ",")
}

// geometric says whether the spec moves pixels.
func (s Spec) geometric() bool {
	return s.Flip || s.Rotation != 0 || s.ZoomH != 0 || s.ZoomW != 0 || s.TransH != 0 || s.TransW != 0
}
