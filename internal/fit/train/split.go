package train

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/data/dataset"
)

// newSplit opens a new run's data (all, hashed) and divides it
// (identical images on one side), or with cfg.Val opens the validation
// data too and reports the images it shares with training.
func newSplit(ctx context.Context, cfg *Config, log *zap.Logger) (train, val, all *dataset.Dataset, overlap int, err error) {
	ds, err := dataset.Open(cfg.Data, dataset.Options{Roots: cfg.AllowRoots})
	if err != nil {
		return nil, nil, nil, 0, err
	}
	warnIgnored(log, ds)
	dataset.Hash(ctx, ds, cfg.Workers) // unreadable files are reported at decoding
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, 0, err
	}
	if cfg.Val == "" {
		train, val = dataset.Split(ds, cfg.ValSplit, cfg.Seed)
		return train, val, ds, 0, nil
	}
	val, err = dataset.Open(cfg.Val, dataset.Options{Classes: ds.Classes, Roots: cfg.AllowRoots})
	if err != nil {
		return nil, nil, nil, 0, err
	}
	warnIgnored(log, val)
	dataset.Hash(ctx, val, cfg.Workers)
	if overlap, _ = val.Overlap(ds); overlap > 0 {
		log.Warn(fmt.Sprintf("%d of %d validation samples are byte-identical to training samples: validation scores will be inflated; remove them from --val or --data", overlap, val.Len()))
	}
	return ds, val, ds, overlap, ctx.Err()
}

// warnIgnored says in one line what ds's folder holds that is no class
// image (notes, .DS_Store, an unsupported format), rather than nothing.
func warnIgnored(log *zap.Logger, ds *dataset.Dataset) {
	if s := ds.IgnoredSummary(); s != "" {
		log.Warn(s)
	}
}
