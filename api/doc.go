// Package api holds the wire types of graft's HTTP API: jobs, attempts,
// events, models, predictions and errors, and the job contract (JobSpec,
// RunSpec). The daemon serves them and api/client reads them; neither
// side depends on the other. It is its own module
// (github.com/graft-ml/graft/api) with no dependency outside Go's
// standard library, so a program that talks to graft imports it alone.
package api
