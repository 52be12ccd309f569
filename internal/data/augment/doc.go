// Package augment makes the augmented views of a training image that
// graft train --augment SPEC --views K extracts once and caches: Keras
// preprocessing-layer semantics (RandomFlip("horizontal"), RandomRotation,
// RandomZoom, RandomTranslation with fill_mode reflect and bilinear
// interpolation; RandomBrightness and RandomContrast with value_range
// 0..255), applied to the resized 0..255 image before the backbone's
// preprocessing. A view's random parameters are drawn from a hash of
// (seed, image digest, view), never from global state, so a view is the
// same in every run and process, and its features can be cached.
package augment
