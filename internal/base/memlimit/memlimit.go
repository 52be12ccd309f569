package memlimit

import (
	"os"
	"runtime/debug"

	"go.uber.org/zap"
)

// Headroom and Slack make the soft limit from the planned bytes:
// Headroom x host + Slack, room for a plan short by a third (Slack for
// small plans, whose unplanned bytes weigh more) before the collector
// starts to cost time.
const (
	Headroom = 1.5
	Slack    = 64 << 20
)

// For is the soft limit for a plan of host bytes when current is the
// limit in force, 0 to keep current (a lower one, or no plan).
func For(host, current int64) int64 {
	limit := int64(Headroom*float64(host)) + Slack
	if host <= 0 || limit >= current {
		return 0
	}
	return limit
}

// Set sets the soft limit for a plan of host bytes (For), unless the
// environment sets GOMEMLIMIT, logs it on log ("heap soft limit", with
// the plan), and returns the limit set (0: none) and the function that
// puts the previous one back. The limit is the process's: for a command's
// whole run, never one request among many.
func Set(host int64, log *zap.Logger) (limit int64, restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, func() {}
	}
	if limit = For(host, debug.SetMemoryLimit(-1)); limit == 0 {
		return 0, func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	log.Info("heap soft limit", zap.Int64("bytes", limit), zap.Int64("planned_host_bytes", host))
	return limit, func() { debug.SetMemoryLimit(prev) }
}
