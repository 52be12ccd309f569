package train

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/run/job"
)

// Config is a job's record as a run keeps it (config.json); internal/run/job
// resolves it, and Run takes partial ones (zero fields are the defaults).
type Config = api.RunSpec

// FieldError and FieldErrors report invalid settings (api's).
type (
	FieldError  = api.FieldError
	FieldErrors = api.FieldErrors
)

// ErrConfig reports invalid job settings; FieldErrors lists them.
var ErrConfig = api.ErrSpec

// loadBackbone reads the job's SavedModel, once per run: the
// preprocessing's detection and the engine share it. Nil when it cannot
// be read (only where the job may read: its roots); openBackbone then
// reads it again and reports why.
func loadBackbone(c *Config) *savedmodel.Model {
	roots, err := confine.New(c.AllowRoots)
	if err != nil {
		return nil
	}
	m, err := savedmodel.LoadIn(roots, c.Backbone, c.Tags...)
	if err != nil {
		return nil
	}
	return m
}

// headSpec is the job's head for features of per-sample shape and n
// classes, with the CLI's advice for a tap that is no feature map: the
// taps graft inspect suggests for the backbone.
func headSpec(j *job.Job, shape []int, n int) (head.Spec, error) {
	s, err := j.HeadSpec(shape, n)
	if err != nil && len(shape) != 3 {
		return s, hint.With(fmt.Errorf("train: %w", err), "%s", tapAdvice(&j.RunSpec))
	}
	return s, err
}

// tapAdvice suggests feature maps to tap in c's backbone.
func tapAdvice(c *Config) string {
	const list = "graft inspect --tensors MODEL lists every tensor with its shape"
	roots, err := confine.New(c.AllowRoots)
	if err != nil {
		return "tap a feature map [N H W C]: " + list
	}
	r, err := inspect.InspectIn(roots, c.Backbone, c.Tags, false, c.Signature)
	if err != nil || len(r.Taps) == 0 {
		return "tap a feature map [N H W C]: " + list
	}
	var taps []string
	for _, t := range r.Taps {
		taps = append(taps, fmt.Sprintf("--tap %s %v", t.Name, t.Shape[1:]))
	}
	return fmt.Sprintf("tap a feature map [N H W C], the last ones before pooling are %s (graft inspect MODEL suggests them; %s)", strings.Join(taps, ", "), list)
}

// checkTap refuses a tap the head cannot read before any feature is
// extracted, not after all of them.
func checkTap(j *job.Job, tap []int) error {
	if len(tap) == 4 {
		return nil // its sizes are checked with the head's other settings
	}
	_, err := headSpec(j, tap[min(1, len(tap)):], 1)
	return err
}
