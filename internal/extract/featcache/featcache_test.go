package featcache

import (
	"crypto/sha256"
	"os"
	"testing"
)

func TestPutGetAndDamage(t *testing.T) {
	root := t.TempDir()
	key := Key{Backbone: "abc", Tap: "conv2d_2", Preprocess: "unit", Input: []int{28, 28, 1}}
	ns, err := Open(root, key, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256([]byte("image bytes"))
	dst := make([]float32, 3)
	if ok, err := ns.Get(s, dst); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	if err := ns.Put(s, []float32{1, -2, 3.5}); err != nil {
		t.Fatal(err)
	}
	if ok, err := ns.Get(s, dst); !ok || err != nil || dst[0] != 1 || dst[1] != -2 || dst[2] != 3.5 {
		t.Fatalf("get: %v %v %v", ok, err, dst)
	}

	// Another tap is another namespace: no hit.
	other, _ := Open(root, Key{Backbone: "abc", Tap: "conv2d_1", Preprocess: "unit", Input: []int{28, 28, 1}}, 3, 0)
	if ok, _ := other.Get(s, dst); ok {
		t.Error("hit across taps")
	}

	// A flipped data byte is a miss, and the entry is gone.
	raw, _ := os.ReadFile(ns.path(s))
	raw[len(raw)-1] ^= 1
	os.WriteFile(ns.path(s), raw, 0o644)
	if ok, _ := ns.Get(s, dst); ok {
		t.Error("damaged entry returned")
	}
	if _, err := os.Stat(ns.path(s)); !os.IsNotExist(err) {
		t.Error("damaged entry kept")
	}
	if err := ns.Put(s, []float32{1}); err == nil {
		t.Error("wrong-size put accepted")
	}
}
