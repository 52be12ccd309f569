// Package memlimit sets the Go heap's soft limit (runtime/debug's
// SetMemoryLimit) from what a command planned to hold. Without a limit the
// collector lets the heap grow to twice what is live (GOGC=100) before it
// collects: a MobileNetV2 training run at 224 planned at 0.81 GB peaked at
// 2.08 GB of RSS, and at 1.19-1.34 GB under 1.5x its plan in the same
// time; at 800 MiB, below what it held live, it ran 33% slower.
package memlimit
