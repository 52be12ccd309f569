// Package shard cuts a job's feature extraction into shards (contiguous
// ranges of the run's sample list, train then validation, in the order of
// its split.json) and runs them in parallel workers, retrying a failed
// shard a stated number of times without redoing finished ones. It knows
// nothing of backbones or processes: the caller says how one shard runs.
package shard
