// Package rundir is the format of a run directory, the one folder a
// training job writes: its file names, the JSON and metrics files read
// and written atomically, the creation of a new run's folder, and the
// stamp (owner.json) by which the daemon knows a run is its job's. The
// training loop (internal/train) writes it; eval, predict, export and the
// daemon read it.
package rundir
