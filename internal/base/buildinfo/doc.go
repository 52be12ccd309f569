// Package buildinfo reports what a graft binary is: version and commit
// (stamped by the Makefile with -ldflags -X), Go version, build tags and
// the matrix backend compiled in.
package buildinfo
