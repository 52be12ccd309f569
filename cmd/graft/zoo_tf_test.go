//go:build tensorflow

package main

import (
	"slices"
	"testing"
)

// TestZooPredictEnginesAgree: graft predict gives identical top-1 classes
// on the zoo's stored inputs with either engine, and both agree with
// TensorFlow's stored outputs.
func TestZooPredictEnginesAgree(t *testing.T) {
	nat, tf := zooTop1(t, "native"), zooTop1(t, "tensorflow")
	for name, classes := range nat {
		if !slices.Equal(classes, tf[name]) {
			t.Errorf("%s: top-1 native %v, tensorflow %v", name, classes, tf[name])
		}
	}
}
