//go:build tensorflow

package features

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// TestExtractOnDevice: features extracted onto a device (TensorFlow's
// eager engine on the CPU, the CUDA ops on the fake driver) land in
// sample order, bad files left out, equal to the host path's features
// (the session engine) bit for bit, with cached samples uploaded and
// computed ones copied from TensorFlow's output; the report says which.
func TestExtractOnDevice(t *testing.T) {
	const model = "../../../testdata/models/fashion_cnn"
	data := testmodules.Digits(t, "train", 0, 3)
	// A corrupt image among them: its slot must not shift the others'.
	if err := os.WriteFile(filepath.Join(data, "3", "00000x.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(data, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := tf.Options{Options: native.Options{Tap: "conv2d_2"}, Device: "cpu"}
	sess, err := tf.Open(model, o)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	eager, err := tf.OpenEager(model, o)
	if err != nil {
		t.Fatal(err)
	}
	defer eager.Close()
	host, _, err := Extract(context.Background(), sess, ds, Options{Mode: "unit", Batch: 4})
	if err != nil {
		t.Fatal(err)
	}

	// A cache that holds every third sample, from the host path.
	cache, err := featcache.Open(t.TempDir(), featcache.Key{Backbone: "test", Tap: "conv2d_2", Preprocess: "unit", Input: []int{28, 28, 1}}, host.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < host.Len(); i += 3 {
		if err := cache.Put(host.Digests[i], host.Features[i*host.Size:(i+1)*host.Size]); err != nil {
			t.Fatal(err)
		}
	}
	ops, _, err := gputest.NewOps(gpu.Options{MemoryBudget: 64 << 20}, gputest.Device{})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	set, rep, err := Extract(context.Background(), eager, ds, Options{Mode: "unit", Batch: 4, Cache: cache, Device: ops})
	if err != nil {
		t.Fatal(err)
	}
	if set.OnDevice == nil || set.Features != nil {
		t.Fatalf("features on the device %v, on the host %d floats: want the device only", set.OnDevice, len(set.Features))
	}
	defer ops.Free(set.OnDevice)
	hits := (host.Len() + 2) / 3
	if rep.Hits != hits || rep.Computed != host.Len()-hits || len(rep.Bad) != 1 {
		t.Errorf("hits %d computed %d bad %d, want %d, %d, 1", rep.Hits, rep.Computed, len(rep.Bad), hits, host.Len()-hits)
	}
	// TensorFlow on the CPU hands a host pointer: every sample is an upload.
	if rep.Uploaded != host.Len() || rep.DeviceCopied != 0 {
		t.Errorf("uploaded %d, device to device %d; want %d, 0", rep.Uploaded, rep.DeviceCopied, host.Len())
	}
	if !slices.Equal(set.IDs, host.IDs) || !slices.Equal(set.Labels, host.Labels) {
		t.Fatalf("samples %v, want %v", set.IDs, host.IDs)
	}
	got := make([]float32, len(host.Features))
	if err := ops.Download(got, set.OnDevice, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, host.Features) {
		t.Errorf("the device's features differ from the host path's")
	}
	// The computed samples went to the cache too: a second run hits all.
	set2, rep2, err := Extract(context.Background(), eager, ds, Options{Mode: "unit", Batch: 4, Cache: cache, Device: ops})
	if err != nil {
		t.Fatal(err)
	}
	ops.Free(set2.OnDevice)
	if rep2.Hits != host.Len() || rep2.Computed != 0 {
		t.Errorf("second run: %d hits, %d computed; want all %d from the cache", rep2.Hits, rep2.Computed, host.Len())
	}
}
