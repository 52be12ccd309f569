// Package job resolves a job spec into the job that runs, once. It holds
// graft's defaults (the CLI's flag defaults come from Defaults), merges
// what a user set over them (New) or over a run's stored record (Resume:
// the record, then only what the user set explicitly), parses the device,
// head, optimizer, schedule, monitor and bad-file policy into typed
// values, and validates every field. Everything downstream (the training
// loop, the daemon, the workers) takes a *Job and never parses strings
// again.
package job
