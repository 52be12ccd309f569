// Package client is the typed Go client of graft serve's HTTP API, used
// by the `graft jobs` and `graft models` commands and importable alone:
// it and the api package are the module github.com/graft-ml/graft/api,
// which needs nothing outside Go's standard library. Errors are values to
// inspect, not advice: an error answer is an *Error (errors.As), a daemon
// that does not answer wraps ErrNoAnswer, and an existing download target
// wraps fs.ErrExist; the CLI turns them into its hints.
package client
