// Package predict runs images through a backbone (and, for trained runs, a
// head) and ranks the outputs: the logic behind `graft predict`. It is
// also where a finished run is loaded for inference (LoadRun: its backbone
// cut at the tap and its best head), for graft eval, graft predict and
// the daemon's serving.
package predict
