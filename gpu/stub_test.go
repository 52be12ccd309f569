//go:build !graftcuda

package gpu

import (
	"errors"
	"strings"
	"testing"
)

func TestStubNamesTheTag(t *testing.T) {
	err := Available()
	if !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "-tags graftcuda") {
		t.Errorf("stub error %v does not say how to get CUDA", err)
	}
}
