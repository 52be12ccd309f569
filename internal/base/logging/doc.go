// Package logging builds graft's zap logger: human-readable on a terminal,
// JSON lines otherwise, so that daemons and CI get parseable logs and
// people get readable ones. The logger is built once in main and injected.
package logging
