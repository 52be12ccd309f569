package daemon_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/daemon/client"
	"github.com/graft-ml/graft/internal/util/crc32c"
)

// Issue 22, defect 2: a 16-byte TFRecord whose length prefix says 1 GiB
// (its checksum valid) is refused with 422 on the data field, naming the
// file and the record's offset, without the daemon allocating the gigabyte.
func TestLyingTFRecordLength(t *testing.T) {
	f := newFixture(t, 1)
	recs := t.TempDir()
	path := filepath.Join(recs, "lie.tfrecord")
	head := binary.LittleEndian.AppendUint64(nil, 1<<30)
	head = binary.LittleEndian.AppendUint32(head, crc32c.Mask(crc32c.Checksum(head)))
	if err := os.WriteFile(path, append(head, 0, 0, 0, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, recs)})
	before := allocatedBytes()
	const tries = 4 // 4 GiB allocated before the fix
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := f.spec(1)
			req.Data = path
			_, errs[i] = s.Submit(context.Background(), req)
		}()
	}
	wg.Wait()
	if got := allocatedBytes() - before; got > 256<<20 {
		t.Errorf("%d submissions of a 16-byte file allocated %d bytes in the daemon", tries, got)
	}
	for _, err := range errs {
		e, ok := err.(*client.Error)
		if !ok || e.Status != 422 || len(e.Fields) != 1 || e.Fields[0].Field != "data" {
			t.Fatalf("%v (%+v); want 422 on data", err, e)
		}
		for _, want := range []string{path, "record 0 (byte 0)", "1073741824", "write the file again"} {
			if !strings.Contains(e.Fields[0].Message, want) {
				t.Errorf("message %q does not say %q", e.Fields[0].Message, want)
			}
		}
	}
}

// allocatedBytes is what this process (the in-process daemon) has
// allocated so far, freed or not.
func allocatedBytes() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
