// Package daemon is `graft serve`: the HTTP API (openapi.yaml), the
// durable job store in an embedded database (bbolt), the scheduler and
// worker supervision (daemon/sched), model serving, and Prometheus
// metrics. It does no numerics: training runs in
// worker processes (`graft worker`, `graft-cuda worker`) and prediction
// calls the trained run's classifier. The wire types are in api (the
// module's public job contract), the typed Go client in api/client.
//
// The store (bbolt: jobs, per-job event logs, models; its format,
// compaction and backup; the list pages) is daemon/store.
//
// Files by concern: options.go (settings, listen check), storeadmin.go
// (GET /v1/admin/backup), datadir.go (the store against what
// the data directory holds), paths.go
// (request paths through internal/base/confine, free disk), http.go (Host,
// Origin, content type, token), limits.go (budgets, connection pools, token
// guessing), jobs_api.go (spec bounds, sizing at submission), lists.go
// (the job and model lists, a page at a time),
// events_api.go (SSE), ui_api.go (the dashboard at /ui from daemon/ui,
// and the job log and evaluation it shows), evaluation.go (evaluations:
// slots, one per job, kept once computed), models_api.go, export_api.go
// (:export, a tar of graft export's SavedModel kept under exports/ with a
// manifest it is checked against), heavy.go (what exports and evaluations
// share: slots, one call per key), cleanup.go (what a crash left, removed
// at start), cache.go (the feature cache's cap, tidied at start, in
// /metrics), delete.go (DELETE of jobs and model versions: a version's
// users drained before it unloads and its files go), retention.go (ended jobs removed past their retention, at
// start and every minute), joblog.go (reading each job's log;
// daemon/sched writes it, bounded and rotated), usage.go (the data directory's bytes by part: /v1/status,
// metrics, the disk answers), serving.go (model cache with references,
// predict), metrics.go. docs/operations.md is what an operator needs.
// docs/daemon-security.md is the policy.
//
// The data directory holds everything the daemon writes:
//
//	graft.db          the store (one daemon per directory: it is locked),
//	                  its format version in meta/format
//	runs/JOB/         each job's run directory (train's layout), stamped
//	                  owner.json: the job and the store's identity
//	logs/JOB.log      each job's worker stderr, all attempts, and its
//	                  one rotated older part JOB.log.1 (--max-log-bytes)
//	cache/            the feature cache, shared by the jobs, capped by
//	                  --cache-max-bytes (internal/extract/featcache: LRU, leases)
//	exports/NAME/V/   each exported model version (POST ...:export),
//	                  with its manifest beside it in V.manifest.json
//
// A delete leaves the store's job and version counters (bucket
// sequences) as they are: no id or version is issued twice. A deleted
// job's run directory stays while a model version it registered does.
//
// The store is not the only record (datadir.go): at every start the job
// id and model version counters move past the run directories, logs and
// exports on disk, a start warns naming the runs the store does not know
// (a lost or restored graft.db), a damaged graft.db stops the start, and
// a checkpoint is resumed only from a run stamped as the job's own.
//
// Scheduling and supervision (the queue, admission of GPU jobs by
// memory, each job's attempts through a worker.Launcher, recovery at
// start) are daemon/sched, on narrow joins onto the store, the event hub,
// the metrics and the launcher, so they run without the HTTP server.
//
// GPU jobs: the LocalLauncher runs `graft-cuda worker` (--cuda-worker) for
// a job on device cuda or cuda:N (refused with 400 when none is configured).
// With a --gpu-memory-budget, each GPU job's footprint is computed at
// submission from its data, tap and head (train.EstimateFootprint: all
// features resident when they fit, else streamed, plus the steps' scratch
// as gpu/plan sizes it and the worker's CUDA context); a job that cannot fit
// is refused with the numbers, and the scheduler starts a GPU job only
// when its reservation fits beside the running ones. CPU jobs bypass it.
package daemon
