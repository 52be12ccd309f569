package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Write writes data (float32 or int32) of the given shape as one .npy
// array to w.
func Write[T float32 | int32](w io.Writer, shape []int, data []T) error {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d values, not %d", shape, n, len(data))
	}
	descr := "<f4"
	var zero T
	if _, ok := any(zero).(int32); ok {
		descr = "<i4"
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	// Magic (6), version (2) and length (2), then the header padded with
	// spaces and a newline to a multiple of 64 bytes.
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	bw := bufio.NewWriter(w)
	bw.WriteString("\x93NUMPY\x01\x00")
	binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	bw.WriteString(header)
	if err := binary.Write(bw, binary.LittleEndian, data); err != nil {
		return err
	}
	return bw.Flush()
}
