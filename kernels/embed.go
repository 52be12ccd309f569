//go:build graftcuda

package kernels

import _ "embed"

// Fatbin is head.fatbin, the head's kernels compiled by `make kernels`
// (SASS for sm_80 and sm_90, PTX for compute_70 and compute_80). It is a
// build artefact, not in git: run `make kernels` before any
// `go build -tags graftcuda` (make graft-cuda does it).
//
//go:embed head.fatbin
var Fatbin string
