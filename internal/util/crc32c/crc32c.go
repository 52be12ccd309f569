package crc32c

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

const maskDelta = 0xa282ead8

// Checksum is the crc32c of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, table) }

// Extend continues a running crc32c over b.
func Extend(crc uint32, b []byte) uint32 { return crc32.Update(crc, table, b) }

// Mask is the stored form of a checksum.
func Mask(c uint32) uint32 { return ((c >> 15) | (c << 17)) + maskDelta }

// Unmask inverts Mask.
func Unmask(m uint32) uint32 {
	r := m - maskDelta
	return (r >> 17) | (r << 15)
}
