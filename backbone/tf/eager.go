//go:build tensorflow

package tf

/*
#include <stdlib.h>
#include "eager.h"
*/
import "C"

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Eager runs the same flat graph as Backbone through TensorFlow's eager C
// API instead of a session: the graph is one function of an eager
// context, executed on the chosen device, and its result stays there as
// a tensor handle (DeviceFeatures). It implements backbone.Backbone too
// (Features copies the result to the host). Methods may be called
// concurrently.
type Eager struct {
	prep   *native.Prepared
	input  backbone.TensorSpec
	tap    backbone.TensorSpec
	device string // the op's device, "" for TensorFlow's choice
	fn     *C.char

	// mu is read-locked by every run and by each DeviceTensor until its
	// Release, write-locked by Close: the context outlives its handles.
	mu  sync.RWMutex
	ctx *C.TFE_Context
}

var (
	_ backbone.Backbone = (*Eager)(nil)
	_ DeviceFeaturer    = (*Eager)(nil)
)

// fnSeq numbers the functions of a process: each Eager's name is its own.
var fnSeq atomic.Int64

// cerr turns a message from eager.c into an error and frees it.
func cerr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return fmt.Errorf("%s", C.GoString(msg))
}

// OpenEager loads the SavedModel in dir and flattens it exactly as Open
// does, then adds the flat graph as a function to a new eager context
// configured like Open's session (memory growth, the memory fraction,
// the visible GPU).
func OpenEager(dir string, o Options) (*Eager, error) {
	sc, p, def, err := prepareFlat(dir, o)
	if err != nil {
		return nil, err
	}
	inNode, inIdx, err := splitTensorName(p.Graph.Inputs[0])
	if err != nil {
		return nil, err
	}
	outNode, outIdx, err := splitTensorName(p.Graph.Outputs[0])
	if err != nil {
		return nil, err
	}
	shape, err := p.TapShape()
	if err != nil {
		return nil, fmt.Errorf("%w (the eager engine needs the tap's static shape from the native engine; --engine tensorflow without eager has TensorFlow's own inference)", err)
	}
	e := &Eager{prep: p, input: p.Input, device: sc.device, fn: C.CString(fmt.Sprintf("graft_backbone_%d", fnSeq.Add(1)))}
	cin, cout := C.CString(inNode), C.CString(outNode)
	defer C.free(unsafe.Pointer(cin))
	defer C.free(unsafe.Pointer(cout))
	err = cerr(C.graft_eager_open(cbytes(sc.config), C.size_t(len(sc.config)), cbytes(def), C.size_t(len(def)),
		cin, C.int(inIdx), cout, C.int(outIdx), e.fn, &e.ctx))
	if err != nil {
		C.free(unsafe.Pointer(e.fn))
		return nil, fmt.Errorf("tf: eager %s: %w", dir, err)
	}
	if err := e.checkDevice(o.Device); err != nil {
		e.Close()
		return nil, err
	}
	// Float32 as the native engine says; run checks each result's.
	e.tap = backbone.TensorSpec{Name: p.Graph.Outputs[0], DType: tensor.Float32, Shape: shape}
	return e, nil
}

// cbytes is b's first byte for C (nil when empty); C only reads it during
// the call.
func cbytes(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// checkDevice fails when the context lacks the device the function is
// placed on: soft placement would run it elsewhere without a word.
func (e *Eager) checkDevice(name string) error {
	if e.device == "" {
		return nil
	}
	var names *C.char
	if err := cerr(C.graft_eager_devices(e.ctx, &names)); err != nil {
		return fmt.Errorf("tf: eager: %w", err)
	}
	all := C.GoString(names)
	C.free(unsafe.Pointer(names))
	var have []string
	for _, d := range strings.Fields(all) {
		if strings.HasSuffix(d, e.device) {
			return nil
		}
		have = append(have, d)
	}
	return fmt.Errorf("%w: device %q: TensorFlow sees no such device (it has %s); "+
		"use --device cpu, or a cuda:N that exists with a TensorFlow built for GPUs (the tensorflow-cpu wheel has none)",
		ErrOptions, name, strings.Join(have, ", "))
}

// Input implements backbone.Backbone.
func (e *Eager) Input() backbone.TensorSpec { return e.input }

// Tap implements backbone.Backbone.
func (e *Eager) Tap() backbone.TensorSpec { return e.tap }

// Model is the loaded SavedModel.
func (e *Eager) Model() *savedmodel.Model { return e.prep.Model }

// Graph is the flat graph the function was made of.
func (e *Eager) Graph() *savedmodel.Graph { return e.prep.Graph }

// DeviceFeatures implements DeviceFeaturer. As with Features, a batch
// already in TensorFlow cannot be interrupted: when ctx ends it returns
// at once and the result is released when the batch finishes.
func (e *Eager) DeviceFeatures(ctx context.Context, batch *tensor.Tensor) (*DeviceTensor, error) {
	raw, shape, err := feedBytes(batch, e.input)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	if e.ctx == nil {
		e.mu.RUnlock()
		return nil, errClosed
	}
	type result struct {
		d   *DeviceTensor
		err error
	}
	done := make(chan result, 1)
	abandoned := make(chan struct{})
	go func() {
		d, err := e.run(raw, shape)
		if err != nil {
			e.mu.RUnlock()
		}
		select {
		case done <- result{d, err}:
		case <-abandoned:
			if d != nil {
				d.Release()
			}
		}
	}()
	select {
	case r := <-done:
		return r.d, r.err
	case <-ctx.Done():
		close(abandoned)
		// The goroutine may have sent already: release what it sent.
		select {
		case r := <-done:
			if r.d != nil {
				r.d.Release()
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// run executes the function on one batch, with mu read-locked; the
// DeviceTensor it returns unlocks mu when released.
func (e *Eager) run(raw []byte, shape []int64) (*DeviceTensor, error) {
	var h *C.TFE_TensorHandle
	var dims *C.int64_t
	if len(shape) > 0 {
		dims = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	cdev := C.CString(e.device)
	defer C.free(unsafe.Pointer(cdev))
	if err := cerr(C.graft_eager_run(e.ctx, e.fn, cdev, C.int(e.input.DType), dims, C.int(len(shape)),
		cbytes(raw), C.size_t(len(raw)), &h)); err != nil {
		return nil, fmt.Errorf("tf: eager run: %w", err)
	}
	var out C.graft_eager_out
	if err := cerr(C.graft_eager_describe(h, &out)); err != nil {
		C.graft_eager_release(h)
		return nil, fmt.Errorf("tf: eager result: %w", err)
	}
	d := &DeviceTensor{
		Ptr:    uintptr(out.ptr),
		Bytes:  int64(out.bytes),
		DType:  tensor.DType(out.dtype),
		Device: C.GoString(out.backing),
		Shape:  make([]int, int(out.ndims)),
	}
	for i := range d.Shape {
		d.Shape[i] = int(out.dims[i])
	}
	d.OnHost = strings.Contains(d.Device, "CPU")
	if d.OnHost && d.DType == tensor.Float32 && out.bytes >= 4 {
		d.host = unsafe.Slice((*float32)(out.ptr), int(out.bytes/4))
	}
	d.copyOut = func(dst []byte) error {
		if d.OnHost {
			copy(dst, unsafe.Slice((*byte)(out.ptr), len(dst)))
			return nil
		}
		return cerr(C.graft_eager_resolve(h, cbytes(dst), C.size_t(len(dst))))
	}
	d.release = func() {
		C.graft_eager_release(h)
		e.mu.RUnlock()
	}
	n := int64(d.DType.Size())
	for _, s := range d.Shape {
		n *= int64(s)
	}
	if n != d.Bytes || d.DType != e.tap.DType {
		d.Release()
		return nil, fmt.Errorf("tf: eager result %s%v holds %d bytes", d.DType, d.Shape, d.Bytes)
	}
	return d, nil
}

// Features implements backbone.Backbone: DeviceFeatures, then the result
// copied to the host (read in place on the CPU, TensorFlow's copy from a
// GPU).
func (e *Eager) Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	d, err := e.DeviceFeatures(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return d.Host()
}

// Close implements backbone.Backbone: it waits for running batches and
// for every DeviceTensor to be released, then deletes the context.
func (e *Eager) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil {
		return nil
	}
	C.graft_eager_close(e.ctx, e.fn)
	C.free(unsafe.Pointer(e.fn))
	e.ctx, e.fn = nil, nil
	return nil
}
