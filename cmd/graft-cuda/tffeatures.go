//go:build graftcuda && tensorflow

package main

import (
	"context"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/gpu"
)

func init() { extraCommands = append(extraCommands, (*app).tfFeaturesCmd) }

// tfFeaturesResult is what `graft-cuda tf-features` found.
type tfFeaturesResult struct {
	GPU       gpu.DeviceInfo `json:"gpu"`
	Model     string         `json:"model"`
	Tap       string         `json:"tap"`
	Batch     int            `json:"batch"`
	TFDevice  string         `json:"tensorflow_device"`
	OnDevice  bool           `json:"copied_device_to_device"`
	Floats    int            `json:"floats"`
	MaxRelErr float64        `json:"max_rel_err_vs_cpu"`
}

// tfFeaturesCmd is gpu-check's check of the TensorFlow-on-GPU join: the
// backbone runs through TensorFlow's eager API on the GPU, its output is
// copied device to device into a CUDA head buffer, read back and compared
// with TensorFlow on the CPU (a session without Grappler, the same graph).
func (a *app) tfFeaturesCmd() *cobra.Command {
	var tap string
	device := api.Device{Kind: api.CUDA}
	var batch int
	var fraction, tol float64
	cmd := &cobra.Command{
		Use:    "tf-features --model DIR [--tap T]",
		Short:  "Check TensorFlow-on-GPU features handed device to device to the CUDA head against TensorFlow on the CPU",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			model, _ := cmd.Flags().GetString("model")
			ordinal, err := gpuOrdinal(device)
			if err != nil {
				return err
			}
			// The head's ops retain the primary context first; TensorFlow's
			// CUDA build retains the same one (StreamExecutor uses the
			// primary context), and grows its memory as it goes, up to
			// fraction of the device: the head's budget leaves that room.
			total := int64(0)
			if list, err := gpu.Devices(); err == nil && ordinal < len(list) {
				total = list[ordinal].MemoryBytes
			}
			budget := int64(float64(total) * (1 - fraction) * 0.8)
			ops, err := gpu.NewOps(gpu.Options{Ordinal: ordinal, MemoryBudget: budget})
			if err != nil {
				return err
			}
			defer ops.Close()
			o := tf.Options{Options: native.Options{Tap: tap}, Device: fmt.Sprintf("cuda:%d", ordinal), GPUMemoryFraction: fraction}
			eb, err := tf.OpenEager(model, o)
			if err != nil {
				return err
			}
			defer eb.Close()
			x := rampBatch(eb.Input().Shape, batch)
			res := tfFeaturesResult{GPU: ops.Info(), Model: model, Tap: eb.Tap().Name, Batch: batch}
			size := 1
			for _, d := range eb.Tap().Shape[1:] {
				size *= d
			}
			res.Floats = batch * size
			buf, err := ops.Alloc(res.Floats)
			if err != nil {
				return err
			}
			defer ops.Free(buf)
			rows := make([]int, batch)
			for i := range rows {
				rows[i] = i
			}
			if res.OnDevice, err = tf.ToDevice(cmd.Context(), eb, ops, buf, rows, x); err != nil {
				return err
			}
			if !res.OnDevice {
				return fmt.Errorf("TensorFlow computed the features on the CPU, not on %s: this libtensorflow has no GPU support (the tensorflow-cpu wheel); install tensorflow[and-cuda]", device)
			}
			res.TFDevice = "GPU"
			got := make([]float32, res.Floats)
			if err := ops.Download(got, buf, 0); err != nil {
				return err
			}
			o.Device, o.NoGrappler, o.GPUMemoryFraction = "cpu", true, 0
			sb, err := tf.Open(model, o)
			if err != nil {
				return err
			}
			defer sb.Close()
			want, err := sb.Features(context.Background(), x)
			if err != nil {
				return err
			}
			if len(want.F32) != len(got) {
				return fmt.Errorf("TensorFlow on the CPU gives %v, on the GPU %d floats", want.Shape, len(got))
			}
			var scale, worst float64
			for i, w := range want.F32 {
				scale = math.Max(scale, math.Abs(float64(w)))
				worst = math.Max(worst, math.Abs(float64(got[i])-float64(w)))
			}
			if scale > 0 {
				res.MaxRelErr = worst / scale
			}
			if err := a.printJSON(res); err != nil {
				return err
			}
			if !(res.MaxRelErr <= tol) {
				return fmt.Errorf("TensorFlow-on-GPU features differ from TensorFlow on the CPU by %.3g x max |CPU|, bound %g", res.MaxRelErr, tol)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("model", "", "SavedModel folder")
	_ = cmd.MarkFlagRequired("model")
	f.StringVar(&tap, "tap", "", "tap (default: the signature output)")
	f.Var(&device, "device", "GPU (cuda:N)")
	f.IntVar(&batch, "batch", 8, "images per batch")
	f.Float64Var(&fraction, "tf-memory-fraction", 0.4, "the most of the GPU's memory TensorFlow may grow to")
	// cuDNN's and cuBLAS's algorithms (and TF32 on Ampere and later) sum
	// in another order than the CPU's kernels.
	f.Float64Var(&tol, "tol", 1e-3, "bound on max |GPU - CPU| / max |CPU|")
	return cmd
}

// rampBatch is n deterministic images of an NHWC input shape.
func rampBatch(shape []int, n int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, n, shape[1], shape[2], shape[3])
	for i := range x.F32 {
		x.F32[i] = float32((i*7919+13)%257) / 256
	}
	return x
}
