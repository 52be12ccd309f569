// Package api holds the wire types of graft's HTTP API: jobs, attempts,
// events, models, predictions and errors. The daemon serves them and
// daemon/client reads them; neither side depends on the other.
package api
