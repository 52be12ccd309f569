package hint

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestHintsStayOutOfTheText(t *testing.T) {
	base := errors.New("run directory /r already holds a run")
	err := fmt.Errorf("train: %w", With(base, "continue it with --resume %s", "/r"))
	err = With(err, "or choose another --out")
	if err.Error() != "train: run directory /r already holds a run" {
		t.Errorf("text %q", err.Error())
	}
	if !errors.Is(err, base) {
		t.Error("the hint hides the error from errors.Is")
	}
	if got := All(err); !slices.Equal(got, []string{"or choose another --out", "continue it with --resume /r"}) {
		t.Errorf("hints %q", got)
	}
	joined := errors.Join(With(errors.New("a"), "x"), With(errors.New("b"), "y"), With(errors.New("c"), "x"))
	if got := All(joined); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("joined hints %q", got)
	}
	if With(nil, "x") != nil || All(nil) != nil {
		t.Error("nil")
	}
}
