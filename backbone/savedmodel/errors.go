package savedmodel

import "errors"

// Sentinel errors; every returned error wraps one of these (or an I/O
// error) with context, so callers can test with errors.Is.
var (
	// ErrNotSavedModel: the directory has no saved_model.pb(txt) or it does
	// not parse as a SavedModel.
	ErrNotSavedModel = errors.New("savedmodel: not a SavedModel")
	// ErrTagSet: no meta graph carries the requested tag set.
	ErrTagSet = errors.New("savedmodel: no meta graph with the requested tags")
	// ErrUnknownSignature: the signature key does not exist.
	ErrUnknownSignature = errors.New("savedmodel: unknown signature")
	// ErrUnknownTensor: a tensor or tap name does not exist.
	ErrUnknownTensor = errors.New("savedmodel: unknown tensor")
	// ErrChecksum: a stored crc32c does not match the bytes read.
	ErrChecksum = errors.New("savedmodel: checksum mismatch")
	// ErrCorrupt: a file is truncated or malformed.
	ErrCorrupt = errors.New("savedmodel: corrupt file")
	// ErrMissingVariables: the graph needs a checkpoint that is absent or
	// lacks an entry.
	ErrMissingVariables = errors.New("savedmodel: missing variables")
	// ErrUnsupported: a valid construct graft does not handle.
	ErrUnsupported = errors.New("savedmodel: unsupported")
	// ErrGraph: the graph is inconsistent (dangling input, cycle, bad
	// function call).
	ErrGraph = errors.New("savedmodel: invalid graph")
)
