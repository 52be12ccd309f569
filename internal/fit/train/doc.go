// Package train is graft's fine-tuning job: it resolves the backbone and
// tap, reads the user's labelled images, extracts features once (through
// the feature cache), trains the head for N epochs against head.Ops with a
// learning-rate schedule, validation, early stopping and a NaN guard, and
// writes a run directory that can be evaluated, resumed and served.
//
// A run directory holds config.json (the resolved config: effective
// optimizer values and the preprocessing auto picked, with why),
// classes.json, split.json (the training and validation samples with
// their content digests), checkpoints/last.safetensors (resume point,
// every epoch) and checkpoints/best.safetensors, head.safetensors (the
// head to use: the best epoch's, without optimizer state), metrics.jsonl
// (one line per epoch), TensorBoard event files under events/ (the same
// scalars, validation precision and recall per class, and config.json as
// a text summary), and
// summary.json. Every file is written atomically.
package train
