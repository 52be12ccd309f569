package wrap

import (
	"errors"
	"os"
	"testing"
)

func TestErrorf(t *testing.T) {
	sentinel := errors.New("savedmodel: invalid graph")
	for _, c := range []struct {
		err  error
		want string
	}{
		{sentinel, "savedmodel: /m: invalid graph"},
		{os.ErrNotExist, "savedmodel: /m: file does not exist"},
		{errors.New("dataset: savedmodel: x"), "savedmodel: /m: dataset: savedmodel: x"},
	} {
		got := Errorf("savedmodel", c.err, "%s", "/m")
		if got.Error() != c.want || !errors.Is(got, c.err) {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
	if Errorf("x", nil, "y") != nil {
		t.Error("nil error wrapped")
	}
}
