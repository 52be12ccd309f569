package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/daemon/raylaunch"
	"github.com/graft-ml/graft/internal/run/worker"
)

// rayConfig is serve's choice of launcher and its Ray settings.
type rayConfig struct {
	kind, address, worker string
	cpus                  float64
}

// launcher is the daemon's launcher: nil (the local default) or one of
// Ray jobs, after checking that every node sees the data directory and
// the worker binaries.
func (rc rayConfig) launcher(ctx context.Context, o *daemon.Options, log *zap.Logger) (worker.Launcher, error) {
	switch rc.kind {
	case "", "local":
		return nil, nil
	case "ray":
	default:
		return nil, fmt.Errorf("serve: --launcher %q: want local or ray", rc.kind)
	}
	c, err := raylaunch.New(rc.address)
	if err != nil {
		return nil, fmt.Errorf("serve: --launcher ray: %w", err)
	}
	bin := rc.worker
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("serve: --ray-worker: %w", err)
		}
	}
	dir, err := filepath.Abs(o.DataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("serve: data directory: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nodes, err := raylaunch.Probe(pctx, c, dir, bin, o.CUDAWorkerPath)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	id, err := raylaunch.DaemonID(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: data directory: %w", err)
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	log.Info("workers run as Ray jobs; every node sees the data directory", zap.String("ray", c.Base), zap.Strings("nodes", names), zap.String("data_dir", dir), zap.String("daemon_id", id))
	return &raylaunch.Launcher{Client: c, DaemonID: id, CPUPath: bin, CUDAPath: o.CUDAWorkerPath, Args: o.WorkerArgs, CPUs: rc.cpus, Log: log}, nil
}
