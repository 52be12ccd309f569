package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon/sched"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/base/devices"
	"github.com/graft-ml/graft/internal/run/worker"
)

// Server is a running daemon: store, scheduler, serving and HTTP API.
type Server struct {
	opts  Options
	log   *zap.Logger
	store *store.Store
	sched *sched.Scheduler
	// launcher starts the workers (Options.Launcher, or local subprocesses).
	launcher worker.Launcher
	// gpuProbe asks graft-cuda once which GPUs are there (device auto,
	// admission per GPU); gpus are they, nil when unknown.
	gpuProbe sync.Once
	gpuErr   error
	gpus     []devices.Device
	hub      *hub
	models   *modelCache
	// predictSlots and predictMem bound the predictions in flight.
	predictSlots, predictMem *budget
	streams                  *budget // open event streams
	exports                  *exports
	evals                    *evaluations
	specChecks               *budget // submissions being checked (data walks)
	authFails                authLimiter
	metrics                  *metrics
	roots                    *confine.Roots
	dataDir                  string
	ready                    atomic.Bool
	started                  time.Time
	usage                    diskUsage     // the data directory by part (usage.go)
	done                     chan struct{} // closed when the daemon begins to stop

	users    *users     // of each model version, against its deletion
	deleting sync.Mutex // one deletion at a time
}

// New opens the daemon's state in opts.DataDir (creating it). Run starts
// it; Close releases it when Run is not used.
func New(opts Options) (*Server, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.MemoryLimit > 0 {
		debug.SetMemoryLimit(opts.MemoryLimit)
	}
	roots, err := confine.New(opts.AllowRoots)
	if err != nil {
		return nil, fmt.Errorf("daemon: --allow-root: %w", err)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: data directory: %w", err)
	}
	abs, err := filepath.Abs(opts.DataDir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: data directory: %w", err)
	}
	if err := cacheCap(&opts, filepath.Join(abs, "cache")); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Log, roots: roots, dataDir: abs, hub: newHub(),
		models: newModelCache(opts.ModelCacheSize), predictSlots: newBudget(int64(opts.MaxConcurrentPredicts)), predictMem: newBudget(opts.PredictMemory),
		streams: newBudget(int64(opts.MaxEventStreams)), exports: newExports(opts.MaxConcurrentExports), evals: newEvaluations(opts.MaxConcurrentEvaluations), specChecks: newBudget(int64(opts.MaxConcurrentSubmissions)),
		metrics: newMetrics(opts.GPUMemoryBudget), users: newUsers(), done: make(chan struct{})}
	if s.store, err = store.Open(s.dbPath()); err != nil {
		return nil, err
	}
	if s.store.Compacted != "" {
		s.log.Info("store compaction at start", zap.String("store", s.dbPath()), zap.String("result", s.store.Compacted))
	}
	if err := s.reconcile(); err != nil {
		s.store.Close()
		return nil, err
	}
	launcher := opts.Launcher
	if launcher == nil {
		launcher = &worker.LocalLauncher{CPUPath: opts.WorkerPath, CUDAPath: opts.CUDAWorkerPath, Args: opts.WorkerArgs}
	}
	s.launcher = launcher
	s.sched = sched.New(&sched.Joins{Store: s.store, Hub: s.hub, Metrics: s.metrics, Launcher: launcher, Log: s.log, Limits: opts.limits(), DataDir: abs, StoreID: s.store.ID()})
	return s, nil
}

// Close releases the store and the loaded models.
func (s *Server) Close() error {
	s.models.close()
	return s.store.Close()
}

// Run resumes the jobs the last daemon left, serves the API on ln until
// ctx ends, then stops: no new requests, workers stopped (SIGTERM, then
// SIGKILL after the grace period) with their jobs left to resume at the
// next start, and the store closed.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	s.started = time.Now().UTC()
	s.cleanLeftovers()
	if err := s.sched.Recover(); err != nil {
		return fmt.Errorf("daemon: resume jobs: %w", err)
	}
	hctx, stopHousekeeping := context.WithCancel(context.Background())
	housekept := make(chan struct{})
	go func() { s.housekeeping(hctx); close(housekept) }()
	defer func() { stopHousekeeping(); <-housekept }() // before the store closes
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(10*time.Second, s.opts.ReadTimeout),
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout, // event streams lift it
		IdleTimeout:       s.opts.IdleTimeout,
		ErrorLog:          zap.NewStdLog(s.log),
		ConnContext:       withConn, // for admit: connections count once served
	}
	ln = newConnGuard(ln, s.opts.MaxConnections, s.opts.MaxConnectionsPerAddress)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.ready.Store(true)
	s.log.Info("graft serve listening", zap.String("addr", ln.Addr().String()), zap.String("data_dir", s.dataDir),
		zap.Strings("allow_roots", s.roots.Dirs()), zap.Int("max_concurrent_jobs", s.opts.MaxConcurrent), zap.Int("queue_size", s.opts.QueueSize))
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.ready.Store(false)
	close(s.done) // ends event streams
	s.log.Info("stopping: stopping workers; their jobs resume at the next start")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	s.sched.Shutdown()
	s.log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ListenAndRun checks the address (a token off the loopback) and runs.
func (s *Server) ListenAndRun(ctx context.Context, addr string) error {
	if err := CheckListen(addr, s.opts.Token); err != nil {
		s.Close()
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return fmt.Errorf("daemon: listen: %w", err)
	}
	return s.Run(ctx, ln)
}
