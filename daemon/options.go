package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon/sched"
	"github.com/graft-ml/graft/internal/base/devices"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/run/worker"
)

// DefaultListen is where graft serve listens unless told otherwise.
const DefaultListen = "127.0.0.1:8470"

// ErrNeedToken refuses a listener other people can reach without a token.
var ErrNeedToken = errors.New("daemon: a non-loopback listen address needs an API token: pass --token-file FILE or set GRAFT_TOKEN")

// Options configure a daemon. Zero values take the defaults noted.
type Options struct {
	// DataDir holds the database, run directories, worker logs and the
	// feature cache; the daemon creates nothing outside it.
	DataDir string
	// AllowRoots are the directories paths in specs and requests must
	// resolve into (after symlinks); none means no path is accepted.
	AllowRoots []string
	// MaxConcurrent is how many workers run at once (default 1).
	MaxConcurrent int
	// QueueSize bounds the queued jobs; a submission beyond it gets 429
	// (default 64).
	QueueSize int
	// MaxAttempts is how many failed attempts (crashes, reported errors)
	// a job gets before it fails (default 3). Cancellations and daemon
	// restarts do not count.
	MaxAttempts int
	// Backoff is the delay before the first retry, doubled per failure up
	// to a minute (default 1s).
	Backoff time.Duration
	// Grace is how long a worker gets after SIGTERM before SIGKILL, on
	// cancel and on shutdown (default 10s).
	Grace time.Duration
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every request but /healthz and /readyz.
	Token string
	// WorkerPath is the binary run as `WorkerPath worker` for CPU jobs
	// (default: this executable).
	WorkerPath string
	// WorkerArgs are extra arguments for every worker (tests slow steps).
	WorkerArgs []string
	// CUDAWorkerPath is graft-cuda, for jobs on device cuda or cuda:N;
	// without it such jobs are refused.
	CUDAWorkerPath string
	// Launcher starts workers; nil means a LocalLauncher of WorkerPath,
	// CUDAWorkerPath and WorkerArgs. Set it to run workers elsewhere (a
	// cluster): it then must accept GPU jobs itself, and CUDAWorkerPath
	// only says that this daemon takes them.
	Launcher worker.Launcher
	// GPUMemoryBudget is the bytes of device memory GPU jobs may claim
	// together on each GPU (on one GPU, together). CPU jobs bypass it; the
	// claims are reported in /metrics.
	GPUMemoryBudget int64
	// GPUs are the host's GPUs as `graft-cuda devices` lists them
	// (internal/base/devices), cuda:0 first. When known, admission is per GPU:
	// a job on cuda:N reserves GPU N's memory (capped by GPUMemoryBudget),
	// cuda:N past the last GPU is refused, and auto takes the GPU with
	// the most room. Nil: asked of CUDAWorkerPath once, at the first GPU
	// or auto job; when that fails (or lists no GPU) the budget is one
	// pool for every GPU, as before.
	GPUs []devices.Device
	// BF16Check says whether this host's CPU runs the bf16 CPU head
	// (precision bf16 on a cpu job); nil: gemm.BF16Check. Tests inject
	// one. With a Launcher the workers' CPUs are elsewhere and check it
	// themselves when they start.
	BF16Check func() error
	// MaxBodyBytes limits job and other small request bodies (default
	// 1 MiB); MaxPredictBytes limits predict bodies (default 32 MiB).
	MaxBodyBytes    int64
	MaxPredictBytes int64
	// ModelCacheSize is how many loaded models stay in memory (default 4).
	ModelCacheSize int
	// MaxImagePixels refuses (413) a predict image with more pixels,
	// read from its header before decoding (default 40 million); in
	// training data and evaluation such an image is a bad file.
	MaxImagePixels int64
	// CacheMaxBytes caps the feature cache under DataDir; the least
	// recently used features beyond it go (daemon/cache.go). Unlike the
	// others, 0 is no cap; < 0 is the default: 20% of the data
	// directory's disk, measured at start.
	CacheMaxBytes int64
	// PredictMemory bounds the memory the predictions in flight may take
	// decoding their images (default 1 GiB): one request over it gets
	// 413, requests beyond it wait a little, then get 503.
	PredictMemory int64
	// MemoryLimit, when > 0, is the Go runtime's soft memory limit for the
	// daemon's process (runtime/debug.SetMemoryLimit, as GOMEMLIMIT): the
	// garbage collector works harder near it instead of letting the heap
	// grow to twice what is live, so the budgets above bound the RSS. 0
	// leaves the runtime's (GOMEMLIMIT, else none).
	MemoryLimit int64
	// MaxConcurrentPredicts bounds the predictions in flight (default 4
	// per CPU); more wait a little, then get 503.
	MaxConcurrentPredicts int
	// MaxConcurrentExports bounds the export builds in flight (default
	// 2; each holds its model in memory) and MaxConcurrentEvaluations the
	// evaluations computed at once (default 2;
	// each loads a backbone). Both are apart from the predictions'; more
	// wait a second, then get 503.
	MaxConcurrentExports, MaxConcurrentEvaluations int
	// ReadTimeout bounds reading a request, body included (default 30s);
	// WriteTimeout writing an answer (default 2m; event streams have
	// none, an export download has it as an idle deadline: each write
	// extends it); IdleTimeout an idle keep-alive connection (default
	// 30s).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConnections caps the connections that have sent a request's
	// headers (one more is answered 503) and, separately, those still
	// sending them (one more closes the one waiting longest) (default
	// 256). MaxConnectionsPerAddress caps the connections of one address
	// other than the loopback; one more is answered 503 (default 32).
	MaxConnections, MaxConnectionsPerAddress int
	// MaxConcurrentSubmissions bounds the submissions checked at once
	// (graph read, data walked); one more gets 503 (default 2).
	MaxConcurrentSubmissions int
	// MaxEventStreams caps open event streams; one more gets 503
	// (default 64).
	MaxEventStreams int
	// JobMemory is the memory one job may need (head, optimizer, step
	// scratch and resident features, as sized at submission); a spec
	// needing more is refused with 422 (default: 3/4 of the host's RAM).
	JobMemory int64
	// AllowHosts are names (or name:port) the daemon answers to besides
	// the loopback addresses and localhost, in Host and Origin headers.
	AllowHosts []string
	// MinFreeDisk is the free space the data directory's disk needs for
	// the daemon to be ready and take jobs (default 64 MiB).
	MinFreeDisk int64
	// RetainFailed, RetainCancelled and RetainSucceeded are how long an
	// ended job is kept after it ended; then its record, run directory,
	// logs and exports go (retention.go). A succeeded job whose model
	// version is registered is kept until the version is deleted. Zero
	// keeps jobs forever (graft serve's flags default to 30, 7 and 90
	// days).
	RetainFailed, RetainCancelled, RetainSucceeded time.Duration
	// MaxLogBytes bounds each job's worker log: logs/JOB.log and the one
	// rotated file logs/JOB.log.1 hold at most half of it each, the
	// newest output kept (default 16 MiB).
	MaxLogBytes int64
	// HousekeepingInterval is how often the retention sweep and the walk
	// of the data directory's disk usage run (default 1 minute; both
	// also run at start).
	HousekeepingInterval time.Duration
	Log                  *zap.Logger
}

func (o *Options) defaults() error {
	if o.DataDir == "" {
		return fmt.Errorf("daemon: no data directory: pass --data-dir DIR")
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 1
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxPredictBytes <= 0 {
		o.MaxPredictBytes = 32 << 20
	}
	if o.ModelCacheSize <= 0 {
		o.ModelCacheSize = 4
	}
	if o.MaxImagePixels <= 0 {
		o.MaxImagePixels = images.DefaultMaxPixels
	}
	if o.PredictMemory <= 0 {
		o.PredictMemory = 1 << 30
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 2 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 256
	}
	if o.MaxConnectionsPerAddress <= 0 {
		o.MaxConnectionsPerAddress = 32
	}
	if o.MaxConcurrentSubmissions <= 0 {
		o.MaxConcurrentSubmissions = 2
	}
	if o.MaxEventStreams <= 0 {
		o.MaxEventStreams = 64
	}
	if o.MinFreeDisk <= 0 {
		o.MinFreeDisk = 64 << 20
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = 16 << 20
	}
	if o.HousekeepingInterval <= 0 {
		o.HousekeepingInterval = time.Minute
	}
	if o.JobMemory <= 0 {
		o.JobMemory = hostMemory() / 4 * 3
	}
	if o.MaxConcurrentPredicts <= 0 {
		o.MaxConcurrentPredicts = 4 * runtime.NumCPU()
	}
	if o.MaxConcurrentExports <= 0 {
		o.MaxConcurrentExports = 2
	}
	if o.MaxConcurrentEvaluations <= 0 {
		o.MaxConcurrentEvaluations = 2
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.WorkerPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("daemon: worker binary: %w", err)
		}
		o.WorkerPath = exe
	}
	return nil
}

// CheckListen refuses a listen address off the loopback without a token.
func CheckListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("daemon: listen address %q: %w (use HOST:PORT, e.g. %s)", addr, err, DefaultListen)
	}
	if token != "" || IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("%w (listen address %q)", ErrNeedToken, addr)
}

// IsLoopback reports whether host names only the loopback interface; an
// empty host (every interface) is not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Layout of the data directory.
func (s *Server) dbPath() string           { return filepath.Join(s.dataDir, "graft.db") }
func (s *Server) runDir(id string) string  { return filepath.Join(s.dataDir, "runs", id) }
func (s *Server) logPath(id string) string { return sched.LogPath(s.dataDir, id) }
func (s *Server) cacheDir() string         { return filepath.Join(s.dataDir, "cache") }

// hostMemory is the host's RAM from /proc/meminfo (8 GiB where unknown).
func hostMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil && kb > 0 {
					return kb << 10
				}
			}
		}
	}
	return 8 << 30
}

// limits are the options scheduling and supervision read.
func (o Options) limits() sched.Limits {
	return sched.Limits{MaxConcurrent: o.MaxConcurrent, QueueSize: o.QueueSize, MaxAttempts: o.MaxAttempts, Backoff: o.Backoff, Grace: o.Grace,
		GPUMemoryBudget: o.GPUMemoryBudget, MaxImagePixels: o.MaxImagePixels, CacheMaxBytes: o.CacheMaxBytes, MaxLogBytes: o.MaxLogBytes, MinFreeDisk: o.MinFreeDisk}
}
