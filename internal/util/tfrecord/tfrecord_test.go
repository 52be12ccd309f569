package tfrecord

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/util/crc32c"
)

func TestRoundTripAndFraming(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, rec := range []string{"hello", "", "world!"} {
		if err := w.Write([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	raw := b.Bytes()
	// Framing by hand: 8-byte length 5, 4-byte crc, "hello", 4-byte crc.
	if binary.LittleEndian.Uint64(raw) != 5 || string(raw[12:17]) != "hello" || len(raw) != (16+5)+(16)+(16+6) {
		t.Fatalf("framing wrong: % x", raw[:21])
	}
	r := NewReader(bytes.NewReader(raw), int64(len(raw)))
	var got []string
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(rec))
	}
	if len(got) != 3 || got[0] != "hello" || got[1] != "" || got[2] != "world!" {
		t.Errorf("records %q", got)
	}
}

func TestCorruption(t *testing.T) {
	var b bytes.Buffer
	NewWriter(&b).Write([]byte("payload"))
	good := b.Bytes()
	flip := func(i int) []byte {
		c := append([]byte(nil), good...)
		c[i] ^= 1
		return c
	}
	for name, raw := range map[string][]byte{
		"length bit":    flip(0),
		"data bit":      flip(13),
		"truncated":     good[:len(good)-2],
		"short header":  good[:7],
		"trailing junk": append(append([]byte(nil), good...), 1, 2, 3),
	} {
		r := NewReader(bytes.NewReader(raw), int64(len(raw)))
		var err error
		for err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", name, err)
		}
	}
}

// lyingHeader is a record header whose length prefix says n bytes, with a
// valid length checksum.
func lyingHeader(n uint64) []byte {
	head := binary.LittleEndian.AppendUint64(nil, n)
	return binary.LittleEndian.AppendUint32(head, crc32c.Mask(crc32c.Checksum(head)))
}

// Issue 22, defect 2: a length prefix longer than the rest of the file, or
// over MaxRecord, is a corrupt record found before its buffer is made.
func TestLyingLength(t *testing.T) {
	for name, c := range map[string]struct {
		n    uint64
		size int64 // what the reader is told the file holds
		want string
	}{
		"1 GiB in a 16-byte file":   {1 << 30, 16, "only 0 bytes left"},
		"2^64-1 in a 16-byte file":  {1<<64 - 1, 16, "only 0 bytes left"},
		"over the cap, file bigger": {MaxRecord + 1, 1 << 40, "limit of 268435456"},
	} {
		raw := append(lyingHeader(c.n), 0, 0, 0, 0)
		before := allocated()
		_, err := NewReader(bytes.NewReader(raw), c.size).Next()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "record 0 (byte 0)") {
			t.Errorf("%s: error %v, want ErrCorrupt saying %q at record 0, byte 0", name, err, c.want)
		}
		if got := allocated() - before; got > 1<<20 {
			t.Errorf("%s: reading it allocated %d bytes", name, got)
		}
	}
}

func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
