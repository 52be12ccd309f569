// Package worker is the one protocol between graft and a process that runs
// one training job (`graft worker`, `graft-cuda worker`): the daemon uses
// it for every attempt, and `graft train --device cuda` for the GPU.
//
// In: one JSON document on the worker's stdin, an Input: the contract's
// version, the resolved job (api.RunSpec), whether to resume, the log
// options the worker's stderr follows, and the runner's image pixel limit
// (--max-image-pixels). Out: api.Event JSON lines on
// stdout; a failed run ends them with an "error" event carrying the
// message (and short "disk" when a write found the disk or quota full:
// the run can resume from its last checkpoint once there is room), and a
// non-zero exit. SIGTERM stops the worker after its current
// step; the last epoch's checkpoint stays intact. A version-0 input (a
// bare job record, the protocol before versions) is read too.
package worker
