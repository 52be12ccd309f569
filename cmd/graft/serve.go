package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/data/images"
)

func (a *app) serveCmd() *cobra.Command {
	var o daemon.Options
	var listen, tokenFile string
	var stepDelay time.Duration
	var rc rayConfig
	cmd := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:8470] --data-dir DIR --allow-root DIR...",
		Short: "Run the daemon: HTTP API, durable job queue, supervised workers, model serving, metrics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.AllowRoots) == 0 {
				return fmt.Errorf("serve: --allow-root DIR is required: the daemon reads models and data only under the directories it names (repeat the flag for several)")
			}
			tok, err := readToken(tokenFile)
			if err != nil {
				return err
			}
			if st, err := os.Stat(tokenFile); tokenFile != "" && err == nil && st.Mode().Perm()&0o077 != 0 {
				a.log.Warn("the token file is readable by others: chmod 600 it", zap.String("file", tokenFile), zap.String("mode", st.Mode().Perm().String()))
			}
			o.Token, o.Log = tok, a.log
			if stepDelay > 0 {
				o.WorkerArgs = append(o.WorkerArgs, "--step-delay", stepDelay.String())
			}
			if err := daemon.CheckListen(listen, o.Token); err != nil {
				return err
			}
			if o.Launcher, err = rc.launcher(cmd.Context(), &o, a.log); err != nil {
				return err
			}
			s, err := daemon.New(o)
			if err != nil {
				return err
			}
			return s.ListenAndRun(cmd.Context(), listen)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", daemon.DefaultListen, "address to listen on; anything but loopback needs --token-file or GRAFT_TOKEN")
	f.StringVar(&o.DataDir, "data-dir", defaultDataDir(), "database, run directories, worker logs and feature cache (nothing is written elsewhere)")
	f.StringSliceVar(&o.AllowRoots, "allow-root", nil, "required: a directory that paths in job specs and requests (backbone, data, val, inspect) must resolve into; repeat for several")
	f.IntVar(&o.MaxConcurrent, "max-concurrent-jobs", 1, "workers running at once")
	f.IntVar(&o.QueueSize, "queue-size", 64, "queued jobs beyond which submissions get 429")
	f.IntVar(&o.MaxAttempts, "max-attempts", 3, "failed attempts (crashes, errors) before a job fails")
	f.DurationVar(&o.Backoff, "retry-backoff", time.Second, "delay before the first restart of a crashed worker, doubled per failure")
	f.DurationVar(&o.Grace, "grace", 10*time.Second, "time a worker gets after SIGTERM (cancel, shutdown) before SIGKILL")
	f.Int64Var(&o.GPUMemoryBudget, "gpu-memory-budget", 0, "bytes of GPU memory jobs may claim together on each GPU, besides its own memory (CPU jobs bypass it)")
	f.StringVar(&o.CUDAWorkerPath, "cuda-worker", "", "graft-cuda binary for GPU jobs")
	f.IntVar(&o.ModelCacheSize, "model-cache-size", 4, "trained models kept loaded for prediction")
	f.Int64Var(&o.CacheMaxBytes, "cache-max-bytes", -1, "bytes the feature cache under --data-dir may hold; beyond, the least recently used features go, never those of a running job (-1: 20% of the data directory's disk at start; 0: no cap)")
	f.Int64Var(&o.MaxImagePixels, "max-image-pixels", images.DefaultMaxPixels, "images with more pixels (read from the header, before decoding): 413 for predict, a bad file in training and evaluation")
	f.Int64Var(&o.PredictMemory, "predict-memory", 1<<30, "bytes the predictions in flight may take decoding images; beyond it they wait, then get 503")
	f.Int64Var(&o.MemoryLimit, "memory-limit", 0, "the daemon's soft memory limit in bytes (as GOMEMLIMIT): the garbage collector keeps the heap under it rather than at twice what is live (0: GOMEMLIMIT, else none)")
	f.IntVar(&o.MaxConcurrentPredicts, "max-concurrent-predicts", 0, "predictions in flight; beyond it they wait, then get 503 (default 4 per CPU)")
	f.IntVar(&o.MaxConcurrentExports, "max-concurrent-exports", 2, "export builds in flight (each holds its model in memory); beyond it they wait a second, then get 503")
	f.IntVar(&o.MaxConcurrentEvaluations, "max-concurrent-evaluations", 2, "job evaluations computed at once (each loads a backbone); beyond it they wait a second, then get 503")
	f.IntVar(&o.MaxConnections, "max-connections", 256, "connections that have sent a request's headers (one more is answered 503), and apart those still sending them (one more closes the longest waiting)")
	f.IntVar(&o.MaxConnectionsPerAddress, "max-connections-per-address", 32, "connections from one address other than the loopback; one more is answered 503")
	f.IntVar(&o.MaxConcurrentSubmissions, "max-concurrent-submissions", 2, "submissions checked at once (graph read, data walked); one more is answered 503")
	f.IntVar(&o.MaxEventStreams, "max-event-streams", 64, "open event streams; one more is answered 503")
	f.DurationVar(&o.ReadTimeout, "read-timeout", 30*time.Second, "time to read a request, body included")
	f.DurationVar(&o.WriteTimeout, "write-timeout", 2*time.Minute, "time to write an answer (event streams excepted; for an export download, the longest pause between writes)")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", 30*time.Second, "time an idle keep-alive connection stays open")
	f.Int64Var(&o.JobMemory, "job-memory", 0, "bytes of memory one job may need, as sized at submission (default 3/4 of the host's RAM)")
	f.StringSliceVar(&o.AllowHosts, "allow-host", nil, "host name clients may use for the daemon besides loopback addresses and localhost (Host and Origin checks); repeat for several")
	f.Int64Var(&o.MinFreeDisk, "min-free-disk", 64<<20, "bytes free on the data directory's disk below which the daemon is not ready and refuses jobs")
	f.DurationVar(&o.RetainFailed, "retain-failed", 30*24*time.Hour, "how long a failed job is kept after it ended (record, run directory, logs); 0 keeps it forever")
	f.DurationVar(&o.RetainCancelled, "retain-cancelled", 7*24*time.Hour, "how long a cancelled job is kept after it ended; 0 keeps it forever")
	f.DurationVar(&o.RetainSucceeded, "retain-succeeded", 90*24*time.Hour, "how long a succeeded job is kept after it ended once its model version is deleted (while registered it is kept); 0 keeps it forever")
	f.Int64Var(&o.MaxLogBytes, "max-log-bytes", 16<<20, "bytes of worker log kept per job: logs/JOB.log and one rotated logs/JOB.log.1, the newest output kept")
	f.StringVar(&rc.kind, "launcher", "local", "where workers run: local (subprocesses of the daemon) or ray (Ray jobs on the cluster at --ray-address; docs/scale-out.md)")
	f.StringVar(&rc.address, "ray-address", os.Getenv("GRAFT_RAY_ADDRESS"), "the Ray head node's dashboard, http://HEAD:8265 (--launcher ray; default $GRAFT_RAY_ADDRESS)")
	f.StringVar(&rc.worker, "ray-worker", "", "path of the graft binary on the Ray nodes (--launcher ray; default: this executable's path)")
	f.Float64Var(&rc.cpus, "ray-cpus", 1, "CPUs each job reserves on its Ray node (--launcher ray)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the API token (default: $GRAFT_TOKEN)")
	f.DurationVar(&stepDelay, "worker-step-delay", 0, "slow every training step (tests)")
	f.MarkHidden("worker-step-delay")
	return cmd
}

func readToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("GRAFT_TOKEN"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("serve: --token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("serve: --token-file %s is empty", file)
	}
	return tok, nil
}

func defaultDataDir() string {
	if d := os.Getenv("GRAFT_DATA_DIR"); d != "" {
		return d
	}
	if d, err := os.UserHomeDir(); err == nil {
		return d + "/.local/share/graft"
	}
	return ""
}
