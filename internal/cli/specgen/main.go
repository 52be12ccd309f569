package main

//go:generate go run . -root ../../..

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/internal/util/atomicfile"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	check := flag.Bool("check", false, "write nothing; fail when a file is not what the generator writes")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

// run regenerates every mirror, or with check reports the stale ones.
func run(root string, check bool) error {
	outs, err := Generate(root)
	if err != nil {
		return err
	}
	for _, o := range outs {
		path := filepath.Join(root, o.Path)
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Equal(old, o.Text) {
			continue
		}
		if check {
			return fmt.Errorf("%s is not what the Go types say: run make generate", o.Path)
		}
		// The whole file is read and spliced in memory, then replaced at
		// once: a failure leaves the old file.
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(path, info.Mode().Perm(), func(w io.Writer) error { _, err := w.Write(o.Text); return err }); err != nil {
			return err
		}
		fmt.Println("specgen: wrote", o.Path)
	}
	return nil
}
