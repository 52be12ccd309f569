//go:build tensorflow

package tf

/*
#cgo LDFLAGS: -L${SRCDIR}/ldstub -ldl
#include <stdlib.h>
const char *graft_tf_open(const char *path);
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	tensorflow "github.com/galeone/tensorflow/tensorflow/go"
)

// LibDir is the folder that held libtensorflow when this binary was built,
// stamped by make build-tf (-ldflags -X): the engine looks there first,
// as an rpath would, but a missing library is an error of the engine, not
// of the whole binary.
var LibDir string

var lib struct {
	once sync.Once
	path string
	err  error
}

// candidates lists the files to try, in order.
func candidates() []string {
	if p := os.Getenv(EnvLib); p != "" {
		return []string{p}
	}
	var c []string
	if LibDir != "" {
		c = append(c, filepath.Join(LibDir, "libtensorflow_cc.so.2"), filepath.Join(LibDir, "libtensorflow.so.2"))
	}
	// The dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
	return append(c, "libtensorflow.so.2", "libtensorflow_cc.so.2")
}

// Load loads libtensorflow once per process and returns the file it
// loaded. Nothing of TensorFlow runs before it; Open and RunSignature call
// it first.
func Load() (string, error) {
	lib.once.Do(func() {
		var tried []string
		for _, p := range candidates() {
			cp := C.CString(p)
			msg := C.graft_tf_open(cp)
			C.free(unsafe.Pointer(cp))
			if msg == nil {
				lib.path = p
				return
			}
			tried = append(tried, C.GoString(msg))
		}
		lib.err = fmt.Errorf("%w: %s. %s", ErrNoLibTensorFlow, strings.Join(tried, "; "), installHint)
	})
	return lib.path, lib.err
}

// Version is the version of the loaded libtensorflow.
func Version() (string, error) {
	if _, err := Load(); err != nil {
		return "", err
	}
	return tensorflow.Version(), nil
}
