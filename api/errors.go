package api

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSpec reports invalid job settings; FieldErrors lists them.
var ErrSpec = errors.New("invalid job spec")

// FieldError is one invalid setting, named by its JSON field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors is every invalid setting of a spec.
type FieldErrors []FieldError

func (f FieldErrors) Error() string {
	parts := make([]string, len(f))
	for i, e := range f {
		parts[i] = e.Field + ": " + e.Message
	}
	return fmt.Sprintf("%v: %s", ErrSpec, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrSpec) true.
func (f FieldErrors) Is(target error) bool { return target == ErrSpec }
