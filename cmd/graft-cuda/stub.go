//go:build !graftcuda

// Command graft-cuda is graft's GPU binary; without the graftcuda build tag it
// only says how to build it.
package main

import (
	"fmt"
	"os"

	"github.com/graft-ml/graft/gpu"
)

func main() {
	fmt.Fprintln(os.Stderr, "graft-cuda:", gpu.ErrNoCUDA)
	os.Exit(1)
}
