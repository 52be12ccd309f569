package features

import (
	"runtime"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/extract/featcache"
)

// OpenBackbone opens the job's backbone on its engine, placed on its
// device; eager runs the tensorflow engine eagerly, its features kept on
// the GPU for the CUDA head. m, when set, is the SavedModel the caller
// read already (the trainer reads it once per run).
func OpenBackbone(c *api.RunSpec, m *savedmodel.Model, eager bool) (backbone.Backbone, error) {
	roots, err := confine.New(c.AllowRoots)
	if err != nil {
		return nil, err
	}
	return engine.Open(string(c.Engine), c.Backbone, engine.Options{
		Options: native.Options{Tags: c.Tags, Signature: c.Signature, Tap: c.Tap, Roots: roots, Model: m},
		Device:  c.Device.String(), GPUMemoryFraction: c.TFMemoryFraction, Eager: eager,
		// The process's threads (threads.Set): the tensorflow engine's
		// pools as wide as the native engine's.
		Threads: runtime.GOMAXPROCS(0),
	})
}

// BackboneDigest is the content digest of the job's backbone folder, read
// through its allowed roots: the feature cache's key and the run's record
// of which backbone it trained on (export checks it).
func BackboneDigest(c *api.RunSpec) (string, error) {
	roots, err := confine.New(c.AllowRoots)
	if err != nil {
		return "", err
	}
	return savedmodel.DigestDirIn(roots, c.Backbone)
}

// OpenCache opens the job's namespace in the feature cache: the model's
// content digest (not the engine: both engines compute the same features,
// so either can reuse the other's), the tap, the preprocessing and the
// input size.
func OpenCache(c *api.RunSpec, bb backbone.Backbone, digest string, maxBytes int64) (*featcache.Namespace, error) {
	root := c.CacheDir
	if root == "" {
		var err error
		if root, err = featcache.DefaultDir(); err != nil {
			return nil, err
		}
	}
	if maxBytes < 0 {
		var err error
		if maxBytes, err = featcache.DefaultMaxBytes(root); err != nil {
			return nil, hint.With(err, "pass --cache-max-bytes")
		}
	}
	size := 1
	for _, d := range bb.Tap().Shape[1:] {
		size *= max(d, 1)
	}
	in := bb.Input().Shape
	return featcache.Open(root, featcache.Key{Backbone: digest, Tap: bb.Tap().Name, Preprocess: c.Preprocess, Input: in[1:]}, size, maxBytes)
}
