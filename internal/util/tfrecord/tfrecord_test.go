package tfrecord

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
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
	r := NewReader(bytes.NewReader(raw))
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
		r := NewReader(bytes.NewReader(raw))
		var err error
		for err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", name, err)
		}
	}
}
