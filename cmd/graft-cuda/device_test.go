package main

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
)

// TestGPUOrdinal: graft-cuda takes a GPU device's ordinal as the user
// wrote it and refuses every device that is not a GPU, saying what to use.
func TestGPUOrdinal(t *testing.T) {
	for _, c := range []struct {
		device string
		want   int
		refuse bool
	}{
		{"cuda", 0, false},
		{"cuda:0", 0, false},
		{"cuda:3", 3, false},
		{"cpu", 0, true},
		{"auto", 0, true},
		{"", 0, true},
	} {
		t.Run(c.device, func(t *testing.T) {
			t.Parallel()
			var d api.Device
			if err := d.UnmarshalText([]byte(c.device)); err != nil {
				t.Fatal(err)
			}
			got, err := gpuOrdinal(d)
			if c.refuse {
				if err == nil || !strings.Contains(err.Error(), "use cuda or cuda:N") {
					t.Errorf("device %q: ordinal %d, err %v; want a refusal that says to use cuda or cuda:N", c.device, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("device %q: ordinal %d, err %v; want %d", c.device, got, err, c.want)
			}
		})
	}
}
