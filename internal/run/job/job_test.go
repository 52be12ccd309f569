package job

import (
	"errors"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
)

func base() api.JobSpec { return api.JobSpec{Backbone: "m", Tap: "t", Data: "d"} }

var here = Where{Out: "run"}

// The resolver's table: what a spec sets over the defaults, hand-written
// expectations (Keras's optimizer defaults, the schedules' own defaults).
func TestNew(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(*api.JobSpec)
		check func(*Job) bool
		field string // the invalid field, when the spec is wrong
	}{
		{"defaults", func(*api.JobSpec) {}, func(j *Job) bool {
			return j.Epochs == 10 && j.BatchSize == 32 && j.ValSplit == 0.2 && j.Head == "conv:256" && j.HeadKind == head.KindConv &&
				j.Filters == 256 && j.Kernel == 3 && j.Opt.Name == "adam" && j.LR == 0.001 && j.Device.Kind == api.CPU &&
				j.MemoryBudget == 4<<30 && j.Version == api.Version && j.Out == "run"
		}, ""},
		{"adamw's weight decay", func(s *api.JobSpec) { s.Optimizer = api.AdamW }, func(j *Job) bool { return j.WeightDecay == 0.004 && j.LR == 0.001 }, ""},
		{"adamw without weight decay", func(s *api.JobSpec) { s.Optimizer, s.WeightDecay = api.AdamW, api.Ptr(0.0) }, func(j *Job) bool { return j.WeightDecay == 0 && j.Opt.WeightDecay == 0 }, ""},
		{"sgd's momentum", func(s *api.JobSpec) { s.Optimizer = api.SGD }, func(j *Job) bool { return j.Momentum == 0.9 && j.LR == 0.01 }, ""},
		{"plain sgd", func(s *api.JobSpec) { s.Optimizer, s.Momentum = api.SGD, api.Ptr(0.0) }, func(j *Job) bool { return j.Momentum == 0 }, ""},
		{"val replaces the split", func(s *api.JobSpec) { s.Val = "v" }, func(j *Job) bool { return j.ValSplit == 0 }, ""},
		{"step schedule", func(s *api.JobSpec) { s.Schedule, s.Epochs = api.Step, api.Ptr(9) }, func(j *Job) bool { return j.StepEvery == 3 && j.Gamma == 0.1 }, ""},
		{"plateau schedule", func(s *api.JobSpec) { s.Schedule = api.Plateau }, func(j *Job) bool { return j.PlateauPatience == 2 && j.Gamma == 0.1 }, ""},
		{"linear head", func(s *api.JobSpec) { s.Head = "linear" }, func(j *Job) bool { return j.HeadKind == head.KindLinear }, ""},
		{"conv head", func(s *api.JobSpec) { s.Head = "conv:16:5" }, func(j *Job) bool { return j.Filters == 16 && j.Kernel == 5 }, ""},
		{"cuda:2", func(s *api.JobSpec) { s.Device = api.MustDevice("cuda:2") }, func(j *Job) bool { return j.Device == api.Device{Kind: api.CUDA, Index: 2} }, ""},
		{"cuda is cuda:0", func(s *api.JobSpec) { s.Device = api.MustDevice("cuda") }, func(j *Job) bool { return j.Device == api.Device{Kind: api.CUDA} }, ""},
		{"fail on bad files", func(s *api.JobSpec) { s.OnBadFile = api.FailBadFiles }, func(j *Job) bool { return j.Policy != 0 }, ""},
		{"zero memory budget streams everything", func(s *api.JobSpec) { s.MemoryBudget = api.Ptr[int64](0) }, func(j *Job) bool { return j.MemoryBudget == 0 }, ""},
		{"epochs 0", func(s *api.JobSpec) { s.Epochs = api.Ptr(0) }, nil, "epochs"},
		{"batch size 0", func(s *api.JobSpec) { s.BatchSize = api.Ptr(0) }, nil, "batch_size"},
		{"val_split 0 without val", func(s *api.JobSpec) { s.ValSplit = api.Ptr(0.0) }, nil, "val_split"},
		{"val and val_split", func(s *api.JobSpec) { s.Val, s.ValSplit = "v", api.Ptr(0.1) }, nil, "val_split"},
		{"no tap", func(s *api.JobSpec) { s.Tap = "" }, nil, "tap"},
		{"even kernel", func(s *api.JobSpec) { s.Head = "conv:16:4" }, nil, "head"},
		{"unknown optimizer", func(s *api.JobSpec) { s.Optimizer = "adagrad" }, nil, "optimizer"},
		{"unknown schedule", func(s *api.JobSpec) { s.Schedule = "linear" }, nil, "schedule"},
		{"unknown monitor", func(s *api.JobSpec) { s.Monitor = "loss" }, nil, "monitor"},
		{"unknown policy", func(s *api.JobSpec) { s.OnBadFile = "ignore" }, nil, "on_bad_file"},
		{"unknown engine", func(s *api.JobSpec) { s.Engine = "onnx" }, nil, "engine"},
		{"negative workers", func(s *api.JobSpec) { s.Workers = api.Ptr(-1) }, nil, "workers"},
		{"shards default", func(s *api.JobSpec) { s.ExtractWorkers = api.Ptr(4) }, func(j *Job) bool { return j.ExtractWorkers == 4 && j.ShardSize == 4096 && j.ShardAttempts == 3 }, ""},
		{"negative extract workers", func(s *api.JobSpec) { s.ExtractWorkers = api.Ptr(-1) }, nil, "extract_workers"},
		{"shard size 0", func(s *api.JobSpec) { s.ExtractWorkers, s.ShardSize = api.Ptr(2), api.Ptr(0) }, nil, "shard_size"},
		{"shards in a sweep", func(s *api.JobSpec) {
			s.ExtractWorkers, s.Sweep = api.Ptr(2), &api.SweepSpec{Space: map[string][]any{"lr": {0.1}}}
		}, nil, "extract_workers"},
		{"shard attempts 0", func(s *api.JobSpec) { s.ExtractWorkers, s.ShardAttempts = api.Ptr(2), api.Ptr(0) }, nil, "shard_attempts"},
		{"augment default", func(s *api.JobSpec) { s.Augment = "default" }, func(j *Job) bool {
			return j.Augment == "flip,rotation=0.1,zoom=0.1,translation=0.1:0.1" && j.Views == DefaultViews && j.Augmenter.Spec.Flip
		}, ""},
		{"augment and views", func(s *api.JobSpec) { s.Augment, s.Views, s.Seed = "contrast=0.3", api.Ptr(8), api.Ptr[uint64](5) }, func(j *Job) bool {
			return j.Views == 8 && j.Augmenter.Seed == 5 && j.Augmenter.Spec.Contrast == 0.3
		}, ""},
		{"views without augment", func(s *api.JobSpec) { s.Views = api.Ptr(3) }, nil, "views"},
		{"one view", func(s *api.JobSpec) { s.Augment, s.Views = "flip", api.Ptr(1) }, nil, "views"},
		{"too many views", func(s *api.JobSpec) { s.Augment, s.Views = "flip", api.Ptr(65) }, nil, "views"},
		{"unknown transform", func(s *api.JobSpec) { s.Augment = "shear=0.1" }, nil, "augment"},
		{"dropout", func(s *api.JobSpec) { s.Dropout, s.ClassWeight = api.Ptr(0.5), "balanced" }, func(j *Job) bool { return j.Dropout == 0.5 && j.ClassWeight == "balanced" && j.Extras() }, ""},
		{"dropout 1", func(s *api.JobSpec) { s.Dropout = api.Ptr(1.0) }, nil, "dropout"},
		{"negative dropout", func(s *api.JobSpec) { s.Dropout = api.Ptr(-0.1) }, nil, "dropout"},
		{"dropout on cuda", func(s *api.JobSpec) { s.Dropout, s.Device = api.Ptr(0.2), api.MustDevice("cuda") }, nil, "device"},
		{"class weights on cuda", func(s *api.JobSpec) { s.ClassWeight, s.Device = "w.json", api.MustDevice("cuda:1") }, nil, "device"},
		{"precision unset is auto, recorded", func(*api.JobSpec) {}, func(j *Job) bool { return j.Precision == "auto" && j.HeadPrecision == head.PrecisionAuto }, ""},
		{"precision BF16", func(s *api.JobSpec) { s.Precision = " BF16" }, func(j *Job) bool { return j.Precision == "bf16" && j.HeadPrecision == head.PrecisionBF16 }, ""},
		{"precision tf32 on cuda", func(s *api.JobSpec) { s.Precision, s.Device = "tf32", api.MustDevice("cuda") }, func(j *Job) bool { return j.HeadPrecision == head.PrecisionTF32 }, ""},
		{"precision tf32 with auto", func(s *api.JobSpec) { s.Precision, s.Device = "tf32", api.MustDevice("auto") }, func(j *Job) bool { return j.HeadPrecision == head.PrecisionTF32 }, ""},
		{"precision fp16", func(s *api.JobSpec) { s.Precision = "fp16" }, nil, "precision"},
		{"precision bf16 in a sweep", func(s *api.JobSpec) {
			s.Precision, s.Sweep = "bf16", &api.SweepSpec{Space: map[string][]any{"lr": {0.1}}}
		}, nil, "precision"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			j, err := New(s, here)
			wantJob(t, j, err, c.field, c.check)
		})
	}
}

// A record of a graft before versions (zeros for "default", lr 0) reads
// as the job it ran; a record of a newer graft is refused.
func TestFromRecord(t *testing.T) {
	old := api.RunSpec{Backbone: "m", Tap: "t", Data: "d", Out: "run", Optimizer: "sgd", Epochs: 4, Preprocess: "unit", PreprocessReason: "given"}
	j, err := FromRecord(old)
	if err != nil {
		t.Fatal(err)
	}
	if j.LR != 0.01 || j.Momentum != 0.9 || j.Epochs != 4 || j.BatchSize != 32 || j.PreprocessReason != "given" || j.Version != api.Version {
		t.Errorf("version-0 record resolved to %+v", j.RunSpec)
	}
	// The current version is taken as written: a 0 stays 0.
	cur := j.RunSpec
	cur.Momentum = 0
	if j2, err := FromRecord(cur); err != nil || j2.Momentum != 0 || j2.Opt.Momentum != 0 {
		t.Errorf("version-1 record: %v, momentum %v", err, j2)
	}
	cur.Version = api.Version + 1
	if _, err := FromRecord(cur); err == nil || !strings.Contains(err.Error(), "newer graft") && !strings.Contains(err.Error(), "reads versions up to") {
		t.Errorf("a newer record: %v", err)
	}
	if _, err := New(api.JobSpec{Version: api.Version + 1}, here); err == nil {
		t.Error("a spec of a newer version accepted")
	}
}

// Resume: the stored record, then only what the user set; what defines
// the run cannot change.
func TestResume(t *testing.T) {
	s := base()
	s.Device, s.Epochs, s.Optimizer, s.Precision = api.MustDevice("cuda:1"), api.Ptr(3), api.AdamW, "bf16"
	stored, err := New(s, here)
	if err != nil {
		t.Fatal(err)
	}
	stored.Preprocess = "unit" // resolved by the first run
	for _, c := range []struct {
		name  string
		set   api.JobSpec
		check func(*Job) bool
		field string
	}{
		{"nothing set keeps the device", api.JobSpec{}, func(j *Job) bool {
			return j.Device == api.Device{Kind: api.CUDA, Index: 1} && j.Epochs == 3 && j.Preprocess == "unit" && j.WeightDecay == 0.004
		}, ""},
		{"device set moves it", api.JobSpec{Device: api.MustDevice("cpu")}, func(j *Job) bool { return j.Device.Kind == api.CPU }, ""},
		{"epochs extend it", api.JobSpec{Epochs: api.Ptr(8)}, func(j *Job) bool { return j.Epochs == 8 }, ""},
		{"the same tap is no change", api.JobSpec{Tap: "t"}, func(j *Job) bool { return j.Tap == "t" }, ""},
		{"another tap", api.JobSpec{Tap: "u"}, nil, "tap"},
		{"another optimizer", api.JobSpec{Optimizer: api.Adam}, nil, "optimizer"},
		{"another seed", api.JobSpec{Seed: api.Ptr[uint64](9)}, nil, "seed"},
		{"epochs 0", api.JobSpec{Epochs: api.Ptr(0)}, nil, "epochs"},
		{"precision kept", api.JobSpec{}, func(j *Job) bool { return j.HeadPrecision == head.PrecisionBF16 && j.Precision == "bf16" }, ""},
		{"precision changed", api.JobSpec{Precision: "fp32"}, func(j *Job) bool { return j.HeadPrecision == head.PrecisionFP32 }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, err := Resume(stored.RunSpec, c.set)
			wantJob(t, j, err, c.field, c.check)
		})
	}
}

func TestDecideAuto(t *testing.T) {
	s := base()
	s.Device = api.MustDevice("auto")
	for _, found := range []bool{true, false} {
		j, err := New(s, here)
		if err != nil {
			t.Fatal(err)
		}
		j.DecideAuto(func() error {
			if found {
				return nil
			}
			return errors.New("no GPU")
		})
		want := "cpu"
		if found {
			want = "cuda:0"
		}
		if j.RunSpec.Device.String() != want {
			t.Errorf("found %v: device %s (%s), want %s", found, j.RunSpec.Device, j.Device, want)
		}
	}
	// Dropout is the CPU head's: auto takes the cpu even beside a GPU.
	s.Dropout = api.Ptr(0.1)
	j, err := New(s, here)
	if err != nil {
		t.Fatal(err)
	}
	if why := j.DecideAuto(func() error { return nil }); j.RunSpec.Device.String() != "cpu" || !strings.Contains(why, "dropout") {
		t.Errorf("auto with dropout: %s (%s)", j.RunSpec.Device, why)
	}
}

// wantJob checks a resolved job: with field set, that err is one field
// error on it; otherwise that there is no error and check passes.
func wantJob(t *testing.T, j *Job, err error, field string, check func(*Job) bool) {
	t.Helper()
	if field != "" {
		var fe api.FieldErrors
		if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != field {
			t.Fatalf("%v, want one error on %s", err, field)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !check(j) {
		t.Errorf("resolved %+v", j.RunSpec)
	}
}

// A resumed run keeps its augmentation: the same spec in another spelling
// is no change, another spec or view count is refused.
func TestResumeAugment(t *testing.T) {
	s := base()
	s.Augment = "flip,rotation=0.1"
	stored, err := New(s, here)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		set   api.JobSpec
		field string
	}{
		{"nothing set", api.JobSpec{}, ""},
		{"the same spec spelt otherwise", api.JobSpec{Augment: "rotation=0.1, flip", Views: api.Ptr(DefaultViews)}, ""},
		{"another spec", api.JobSpec{Augment: "flip"}, "augment"},
		{"more views", api.JobSpec{Views: api.Ptr(8)}, "views"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, err := Resume(stored.RunSpec, c.set)
			wantJob(t, j, err, c.field, func(j *Job) bool { return j.Augment == "flip,rotation=0.1" && j.Views == DefaultViews })
		})
	}
}
