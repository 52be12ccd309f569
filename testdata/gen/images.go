package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/internal/util/idx"
)

// writeImageFolder writes up to perClass images of each class of set as
// PNG files into out/<class name>/<index>.png, the image-folder layout
// graft train reads. Images are taken in file order from offset on.
func writeImageFolder(set *idx.Set, names []string, out string, offset, perClass int) error {
	count := make([]int, len(names))
	for i := offset; i < set.Len(); i++ {
		y := int(set.Labels[i])
		if y >= len(names) || count[y] >= perClass {
			continue
		}
		dir := filepath.Join(out, names[y])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		img := image.NewGray(image.Rect(0, 0, set.W, set.H))
		copy(img.Pix, set.Image(i))
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%05d.png", i)))
		if err != nil {
			return err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		count[y]++
	}
	return nil
}
