// Package client is the typed Go client of graft serve's HTTP API, used
// by the `graft jobs` and `graft models` commands.
package client
