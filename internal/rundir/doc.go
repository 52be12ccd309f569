// Package rundir is the format of a run directory, the one folder a
// training job writes: its file names, the JSON and metrics files read
// and written atomically, and the creation of a new run's folder. The
// training loop (internal/train) writes it; eval, predict, export and the
// daemon read it.
package rundir
