// Package raylaunch runs graft's workers as Ray jobs: a client of Ray's
// Jobs REST API (submit, status, logs, stop, list, and the cluster's
// nodes from the state API), the deterministic submission ids that let a
// restarted daemon re-attach to the attempts it already submitted, and
// the shared-storage probe that refuses a cluster whose nodes do not see
// the daemon's data directory. The daemon's Ray launcher is built on it
// (graft serve --launcher ray); docs/scale-out.md describes the set-up.
//
// Everything here talks to a real Ray: its tests run against the head
// node that `make test-ray` starts (GRAFT_RAY_ADDRESS) and skip without.
package raylaunch
