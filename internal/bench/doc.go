// Package bench measures graft's compute paths for `graft bench` and
// reports each against a yardstick timed in the same run (never absolute
// timings alone: machines differ, ratios travel).
package bench
