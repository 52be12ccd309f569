package crc32c

import "testing"

// crc32c("123456789") = 0xe3069283 is the standard check value; the mask
// is checked against its definition (rotate right 15, add the delta).
func TestKnownAnswerAndMask(t *testing.T) {
	if got := Checksum([]byte("123456789")); got != 0xe3069283 {
		t.Errorf("crc32c check value %#x, want 0xe3069283", got)
	}
	if got := Extend(Checksum([]byte("1234")), []byte("56789")); got != 0xe3069283 {
		t.Errorf("extended crc %#x", got)
	}
	for _, c := range []uint32{0, 1, 0xe3069283, 0xffffffff} {
		if Unmask(Mask(c)) != c {
			t.Errorf("mask round trip of %#x", c)
		}
	}
	// Mask rotates right by 15 and adds the delta: for 1, 1<<17 + delta.
	if Mask(1) != (1<<17)+maskDelta {
		t.Errorf("Mask(1) = %#x", Mask(1))
	}
}
