// Package closest ranks names by how close they are to one a person typed,
// for the "did you mean" of unknown flags, taps and the like.
package closest
