package api

import "time"

// Status is the body of GET /v1/status: what the daemon is, how long it
// has run, its jobs by state, and what its data directory holds.
type Status struct {
	Version string    `json:"version"`
	Commit  string    `json:"commit"`
	Started time.Time `json:"started"`
	// UptimeSeconds is the time since Started.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Jobs counts the jobs in the store by state (every state listed).
	Jobs map[State]int `json:"jobs"`
	Disk DiskUsage     `json:"disk"`
}

// DiskUsage is what the data directory holds by part, as the daemon's
// last walk of it found (every minute), and its disk's free space now.
type DiskUsage struct {
	// Parts are bytes by part: store (graft.db), runs, cache, logs,
	// exports.
	Parts map[string]int64 `json:"parts"`
	// Measured is when the parts were walked.
	Measured time.Time `json:"measured"`
	// Free is the free space of the data directory's disk now (-1:
	// unknown); under MinFree the daemon is not ready and takes no jobs.
	Free    int64 `json:"free"`
	MinFree int64 `json:"min_free"`
	// Largest is the part that holds the most.
	Largest string `json:"largest"`
}
