package wrap

import (
	"fmt"
	"strings"
)

// Errorf returns err with pkg's prefix and the formatted context in
// front; errors.Is and errors.As still see err.
func Errorf(pkg string, err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return &wrapped{pkg: pkg, ctx: fmt.Sprintf(format, a...), err: err}
}

type wrapped struct {
	pkg, ctx string
	err      error
}

func (w *wrapped) Error() string {
	return w.pkg + ": " + w.ctx + ": " + strings.TrimPrefix(w.err.Error(), w.pkg+": ")
}

func (w *wrapped) Unwrap() error { return w.err }
