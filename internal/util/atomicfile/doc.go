// Package atomicfile writes files so that a reader, a crash or a full disk
// never sees a half-written one: write to a temporary file in the same
// directory, fsync it, rename it over the target, fsync the directory.
package atomicfile
