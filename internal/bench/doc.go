// Package bench measures graft's compute paths for `graft bench` and
// reports each against a yardstick timed in the same run (never absolute
// timings alone: machines differ, ratios travel). Engines compared side by
// side take turns (Throughputs), so that a drift in the machine's speed
// slows each alike.
package bench
