// Package sweep is `graft sweep`'s plan and report: the space of settings
// to try (--vary KEY=V1,V2 and --space FILE), the trials drawn from it (the
// whole grid, or a seeded sample of --trials of its points), each trial's
// job spec, and the leaderboard of the trials' results. Training the
// trials, on features extracted once, is internal/fit/train's Sweep.
package sweep
