// Command specgen writes the two mirrors of api.JobRequest that live
// outside Go: the JobRequest schema's properties in daemon/openapi.yaml
// and the fields of the Python client's JobRequest
// (clients/python/src/graft_client/_types.py), each between its BEGIN and
// END generated markers, so that a new api.JobSpec field reaches both by
// `make generate` (go generate ./internal/cli/specgen).
//
// What it reads of the Go types: the JSON names and types (reflection),
// the fields' doc and line comments as descriptions and the string
// constants of a named type as its enum (go/ast, on api's sources), and
// an `openapi:"..."` struct tag for what neither says: required, enum=a,b,
// minimum=N, maximum=N, exclusiveMaximum, pattern=P, example=E, separated
// by semicolons.
package main
