package native

import "errors"

// Sentinel errors; every error the package returns wraps one of them and
// names the node involved.
var (
	// ErrUnsupportedOp: the graph uses an op the native engine lacks.
	ErrUnsupportedOp = errors.New("native: unsupported op")
	// ErrAttr: a node's attribute is missing, malformed or selects an
	// unsupported mode (NCHW data_format, training-mode batch norm, ...).
	ErrAttr = errors.New("native: unsupported or invalid attribute")
	// ErrShape: input shapes are incompatible with the op.
	ErrShape = errors.New("native: incompatible shapes")
	// ErrDType: an input has a dtype the op does not accept.
	ErrDType = errors.New("native: unsupported dtype")
	// ErrGraph: the graph itself is malformed (dangling input, bad arity).
	ErrGraph = errors.New("native: malformed graph")
	// ErrFeed: a feed is missing, unknown or of the wrong dtype or shape.
	ErrFeed = errors.New("native: bad feed")
	// ErrValue: an input value is invalid for the op (division by zero,
	// index out of range, negative size, ...).
	ErrValue = errors.New("native: invalid value")
	// ErrInternal: a kernel failed unexpectedly; this is a bug in graft.
	ErrInternal = errors.New("native: internal error")
)
