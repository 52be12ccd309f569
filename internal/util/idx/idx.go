package idx

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// Read reads an IDX file (the MNIST format), gzipped or not: a magic
// number whose last byte is the rank, the dimensions as big-endian uint32,
// then unsigned bytes.
func Read(path string) ([]byte, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	}
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if magic>>8 != 0x08 { // unsigned byte data
		return nil, nil, fmt.Errorf("%s: not an unsigned-byte IDX file (magic %#x)", path, magic)
	}
	dims := make([]int, magic&0xff)
	n := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		dims[i] = int(d)
		n *= int(d)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, dims, nil
}

// Set is n images of H x W unsigned bytes with one label each.
type Set struct {
	Pixels []byte
	Labels []byte
	H, W   int
}

// Load reads an image file and its label file.
func Load(images, labels string) (*Set, error) {
	px, dims, err := Read(images)
	if err != nil {
		return nil, err
	}
	lb, ldims, err := Read(labels)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 || len(ldims) != 1 || dims[0] != ldims[0] {
		return nil, fmt.Errorf("%s and %s do not match: shapes %v and %v", images, labels, dims, ldims)
	}
	return &Set{Pixels: px, Labels: lb, H: dims[1], W: dims[2]}, nil
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image is the pixels of image i, row-major.
func (s *Set) Image(i int) []byte { return s.Pixels[i*s.H*s.W : (i+1)*s.H*s.W] }
