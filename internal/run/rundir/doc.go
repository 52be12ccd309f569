// Package rundir is the format of a run directory, the one folder a
// training job writes: its file names, the JSON and metrics files read
// and written atomically, the creation of a new run's folder, and the
// stamp (owner.json) by which the daemon knows a run is its job's, and
// the Writer that records a training run as it goes (checkpoints, metrics,
// TensorBoard events, head.safetensors and summary.json). The training
// loop (internal/fit/train) writes through it; eval, predict, export and the
// daemon read the files.
package rundir
