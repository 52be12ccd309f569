// Package daemon is `graft serve`: the HTTP API, the durable job store in
// an embedded database, the scheduler, worker-subprocess supervision and
// its JSON-lines protocol, model serving, metrics, and the typed Go client
// the CLI uses. It does no numerics: training runs in worker processes.
package daemon
