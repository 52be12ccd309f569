// Package cli holds the command pieces graft and graft-cuda share, so
// that both binaries take the same flags for the same job: the train
// command's flags and the run of a training job with progress output,
// JSON output, the "did you mean --epochs?" of a mistyped flag, and the
// error text a person reads (the error, then its hints).
package cli
