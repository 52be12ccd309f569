package api

import "fmt"

// EventKind says what an Event reports.
type EventKind string

// Event kinds, in the order a run emits them.
const (
	// EventExtract is progress through the backbone: Step of Steps images of
	// Split (those the feature cache did not hold).
	EventExtract EventKind = "extract"
	// EventFeatures ends a split's extraction, with its report.
	EventFeatures EventKind = "features"
	// EventStep is a training step: Step of Steps of epoch Epoch.
	EventStep EventKind = "step"
	// EventEpoch ends an epoch, with its Metrics.
	EventEpoch EventKind = "epoch"
	// EventDone ends the run, with its Summary.
	EventDone EventKind = "done"
	// EventError is a worker's last line when the run failed: Message says
	// why.
	EventError EventKind = "error"
)

// SplitShards is the split of the extract events that count a sharded
// extraction's shards: Step of Steps shards done.
const SplitShards = "shards"

// Event is one report of a run's progress: what `graft train` renders and
// a worker writes, one JSON line each.
type Event struct {
	Kind  EventKind `json:"event"`
	Split string    `json:"split,omitempty"` // train or val; for extract also SplitShards
	// Step of Steps: a training step of the epoch, or for extract the
	// images through the backbone of those the cache did not hold.
	Epoch    int            `json:"epoch,omitempty"`
	Epochs   int            `json:"epochs,omitempty"`
	Step     int            `json:"step,omitempty"`
	Steps    int            `json:"steps,omitempty"`
	Loss     float64        `json:"loss,omitempty"`
	Accuracy float64        `json:"accuracy,omitempty"`
	Metrics  *Metrics       `json:"metrics,omitempty"`
	Features *FeatureReport `json:"features,omitempty"`
	Summary  *Summary       `json:"summary,omitempty"`
	Message  string         `json:"message,omitempty"` // EventError's reason
	// Short is, on EventError, the resource the run ran short of: ShortDisk
	// when a write found no room (ENOSPC, EDQUOT). Its last epoch
	// checkpoint is intact: the run can resume once there is room.
	Short string `json:"short,omitempty"`
}

// ShortDisk is Event.Short for a full disk or an exhausted quota.
const ShortDisk = "disk"

// Metrics is one epoch: a line of a run's metrics.jsonl.
type Metrics struct {
	Epoch       int     `json:"epoch"`
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	ValLoss     float64 `json:"val_loss"`
	ValAccuracy float64 `json:"val_accuracy"`
	ValTop5     float64 `json:"val_top5"`
	LR          float64 `json:"lr"`
	Seconds     float64 `json:"seconds"`
}

// BadFile is an image that could not be used, and why.
type BadFile struct {
	// Path is the sample's ID: the file, or file#record.
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// FeatureReport is how a split's features were obtained.
type FeatureReport struct {
	Samples  int `json:"samples"`
	Hits     int `json:"cache_hits"`
	Computed int `json:"computed"`
	// With TensorFlow on the GPU feeding the CUDA head: the computed
	// features copied device to device (never through the host, but for
	// the cache's copy) and the cached ones uploaded.
	DeviceCopied int `json:"device_copied,omitempty"`
	Uploaded     int `json:"uploaded,omitempty"`
	// Bad are the first MaxExamples bad files; BadTotal counts them all,
	// and BadList names the run directory's file that lists every one
	// (a run's; an evaluation's report has every one in Bad).
	Bad      []BadFile `json:"bad_files,omitempty"`
	BadTotal int       `json:"bad_files_total,omitempty"`
	BadList  string    `json:"bad_files_list,omitempty"`
	// Seconds spent hashing files, decoding images and in the backbone.
	HashSeconds     float64 `json:"hash_seconds"`
	DecodeSeconds   float64 `json:"decode_seconds"`
	BackboneSeconds float64 `json:"backbone_seconds"`
}

// BadCount is how many bad files the report is about: BadTotal in a run's
// events, whose Bad holds only the first few.
func (r *FeatureReport) BadCount() int { return max(r.BadTotal, len(r.Bad)) }

// Duplicates are the groups of byte-identical images in a data set.
type Duplicates struct {
	// Groups is the number of digests held by more than one sample, Files
	// the samples in those groups.
	Groups int `json:"groups"`
	Files  int `json:"files"`
	// Conflicting is the number of groups whose copies carry different
	// labels.
	Conflicting int `json:"conflicting_labels,omitempty"`
	// Examples are the first MaxExamples groups' sample IDs, each group
	// cut to its first MaxExamples; List names the run directory's file
	// with every group's every sample.
	Examples [][]string `json:"examples,omitempty"`
	List     string     `json:"list,omitempty"`
}

// MaxExamples bounds the examples an event, a job record or a summary
// carries of a list that grows with the data (bad files, duplicate
// groups and their members): counts say how many there are, and the
// full lists are files in the run directory.
const MaxExamples = 20

// Timing says where a run's time went, with the rate of each stage.
// Decoding runs ahead of the backbone, on the cores it leaves idle, so
// decode and backbone seconds may add up to more than their wall time.
type Timing struct {
	DecodeSeconds        float64 `json:"decode_seconds"`
	BackboneSeconds      float64 `json:"backbone_seconds"`
	HeadSeconds          float64 `json:"head_seconds"`
	DecodeImagesPerSec   float64 `json:"decode_images_per_s,omitempty"`
	BackboneImagesPerSec float64 `json:"backbone_images_per_s,omitempty"`
	HeadImagesPerSec     float64 `json:"head_images_per_s,omitempty"`
}

// Summary is a finished run: its summary.json.
type Summary struct {
	Epochs int `json:"epochs"`
	// Monitor is the metric that chose BestEpoch (val_loss or
	// val_accuracy); BestValAccuracy and BestValLoss are that epoch's.
	Monitor         Monitor `json:"monitor"`
	BestEpoch       int     `json:"best_epoch"`
	BestValAccuracy float64 `json:"best_val_accuracy"`
	BestValLoss     float64 `json:"best_val_loss"`
	// The best value of each metric over all epochs, and where, so that a
	// later epoch with a higher accuracy than the best epoch's is visible.
	HighestValAccuracy      float64 `json:"highest_val_accuracy"`
	HighestValAccuracyEpoch int     `json:"highest_val_accuracy_epoch"`
	LowestValLoss           float64 `json:"lowest_val_loss"`
	LowestValLossEpoch      int     `json:"lowest_val_loss_epoch"`
	StoppedEarly            bool    `json:"stopped_early"`
	// Duplicates are the groups of byte-identical images in --data;
	// ValOverlap the --val samples identical to training samples.
	Duplicates   Duplicates `json:"duplicates"`
	ValOverlap   int        `json:"val_overlap,omitempty"`
	TrainSamples int        `json:"train_samples"`
	ValSamples   int        `json:"val_samples"`
	BadFiles     int        `json:"bad_files"`
	// BadFilesList names the run directory's file listing every bad file
	// (one JSON line each: split, path, reason) when there are any.
	BadFilesList  string `json:"bad_files_list,omitempty"`
	CacheHits     int    `json:"feature_cache_hits"`
	CacheComputed int    `json:"features_computed"`
	// With TensorFlow on the GPU feeding the CUDA head: the computed
	// features copied device to device (no host round trip) and those
	// uploaded (from the cache, or computed on the CPU).
	FeaturesDeviceToDevice int    `json:"features_device_to_device,omitempty"`
	FeaturesUploaded       int    `json:"features_uploaded,omitempty"`
	Device                 string `json:"device"`
	Timing                 Timing `json:"timing"`
	// BackboneDigest is the backbone folder's content digest when the run
	// finished: graft export refuses a backbone that changed since.
	BackboneDigest string `json:"backbone_digest,omitempty"`
}

// Best says which epoch is the best, by which metric, and the best value
// of the other metric, e.g. "best epoch 4 by val_loss 0.3120 (val_accuracy
// 0.8462); highest val_accuracy 0.8692 at epoch 8".
func (s *Summary) Best() string {
	if s.Monitor == ValAccuracy {
		return fmt.Sprintf("best epoch %d by val_accuracy %.4f (val_loss %.4f); lowest val_loss %.4f at epoch %d",
			s.BestEpoch, s.BestValAccuracy, s.BestValLoss, s.LowestValLoss, s.LowestValLossEpoch)
	}
	return fmt.Sprintf("best epoch %d by val_loss %.4f (val_accuracy %.4f); highest val_accuracy %.4f at epoch %d",
		s.BestEpoch, s.BestValLoss, s.BestValAccuracy, s.HighestValAccuracy, s.HighestValAccuracyEpoch)
}

// String is the report's one line for logs.
func (r Duplicates) String() string {
	groups := "groups"
	if r.Groups == 1 {
		groups = "group"
	}
	s := fmt.Sprintf("%d %s of byte-identical images (%d files)", r.Groups, groups, r.Files)
	if r.Conflicting > 0 {
		s += fmt.Sprintf(", %d of them with different labels: fix the labels", r.Conflicting)
	}
	return s
}
