package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

// reasonHidden is why a hidden file (.DS_Store, ._photo.jpg) is left out:
// counted with the others, as an image saved under a hidden name is not
// trained on either.
const reasonHidden = "hidden file"

// openFolder reads an image folder: each non-hidden sub-folder is a class
// (sorted by name); its PNG and JPEG files, at any depth, are the samples.
func openFolder(root string, opts Options) (*Dataset, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("dataset: read folder %s: %w", root, err)
	}
	ds := &Dataset{Source: root, Kind: KindFolder}
	var classDirs []string // sorted: ReadDir sorts by name
	strayImages := 0
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if isHidden(e.Name()) {
			if !e.IsDir() {
				ds.Ignored = append(ds.Ignored, IgnoredFile{Path: p, Reason: reasonHidden})
			}
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				isDir = true
			}
		}
		switch {
		case isDir:
			classDirs = append(classDirs, e.Name())
		case isImageName(e.Name()):
			strayImages++
			ds.Ignored = append(ds.Ignored, IgnoredFile{Path: p, Reason: "image outside a class sub-folder"})
		default:
			ds.Ignored = append(ds.Ignored, IgnoredFile{Path: p, Reason: "not a class sub-folder"})
		}
	}
	if len(classDirs) == 0 {
		if strayImages > 0 {
			return nil, fmt.Errorf("%w: %s holds %d images but no class sub-folders: put the images of each class in their own sub-folder (e.g. %s)", ErrClasses, root, strayImages, filepath.Join(root, "cat", "1.jpg"))
		}
		return nil, fmt.Errorf("%w: folder %s is empty: it needs one sub-folder of PNG/JPEG images per class", ErrEmpty, root)
	}
	cm := newClassMap(opts)
	for _, name := range classDirs {
		dir := filepath.Join(root, name)
		label, err := cm.lookup(name, "folder "+strconv.Quote(dir))
		if err != nil {
			return nil, err
		}
		// A class folder linked out of the roots is not even listed.
		if err := check(dir, opts.confined); err != nil {
			return nil, err
		}
		n := 0
		// Through os.DirFS, a class folder that is a link is followed
		// (filepath.WalkDir would list the link alone); links below it
		// are not. With roots, Open then confines every file found.
		walkErr := fs.WalkDir(os.DirFS(dir), ".", func(rel string, d fs.DirEntry, err error) error {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if err != nil {
				return fmt.Errorf("dataset: read %s: %w", p, err)
			}
			if rel == "." {
				return nil
			}
			if isHidden(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				ds.Ignored = append(ds.Ignored, IgnoredFile{Path: p, Reason: reasonHidden})
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err == nil && st.IsDir() {
					ds.Ignored = append(ds.Ignored, IgnoredFile{Path: p, Reason: "link to a folder, not followed"})
					return nil
				}
			}
			if !isImageName(d.Name()) {
				ds.Ignored = append(ds.Ignored, IgnoredFile{Path: p, Reason: "not a .png, .jpg or .jpeg file"})
				return nil
			}
			ds.Samples = append(ds.Samples, Sample{ID: p, Label: label, Path: p, Record: -1})
			n++
			return nil
		})
		if walkErr != nil {
			return nil, walkErr
		}
		if n == 0 && !cm.imposed {
			return nil, fmt.Errorf("%w: class folder %s holds no .png, .jpg or .jpeg images: add images or remove the folder", ErrClasses, dir)
		}
	}
	// Class folders are visited in sorted order, so labels are already
	// sorted; finish keeps them (and handles the imposed case).
	ds.Classes = cm.finish(ds.Samples, nil)
	return ds, nil
}
