// Package store is graft serve's durable state in one bbolt file: jobs
// with their attempts, each job's event log, the registered models, the
// store's identity and format; its compaction (offline and at open), the
// online backup, and the pages the job and model lists read. Every change
// is one transaction, fsynced before it returns. The daemon reaches it
// through its joins (daemon/sched.Store) and its HTTP handlers;
// nothing here knows HTTP.
package store
