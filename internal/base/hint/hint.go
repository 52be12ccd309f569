package hint

import (
	"errors"
	"fmt"
)

// Error is an error with advice; its text is the wrapped error's alone.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With returns err carrying the advice (a format and its arguments);
// a nil err stays nil.
func With(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: fmt.Sprintf(format, a...)}
}

// All returns the advice of every Error in err's tree, outermost first,
// each once.
func All(err error) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var h *Error
		if e, ok := err.(*Error); ok {
			h = e
		}
		if h != nil && !seen[h.Hint] {
			seen[h.Hint] = true
			out = append(out, h.Hint)
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		default:
			walk(errors.Unwrap(err))
		}
	}
	walk(err)
	return out
}
