package daemon

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/graft-ml/graft/api"
)

// predictBuckets are the upper bounds (seconds) of the predict latency
// histogram.
var predictBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// metrics are the daemon's Prometheus metrics, written by hand in the
// text exposition format.
type metrics struct {
	mu              sync.Mutex
	queued          int
	running         int
	stepSum         float64
	stepCount       uint64
	imagesPerSec    map[string]float64 // per running job, smoothed
	attempts        uint64
	attemptEnds     map[string]uint64
	predictCounts   []uint64 // per bucket, plus +Inf
	predictSum      float64
	predictCount    uint64
	predictImages   uint64
	predictErrors   uint64
	exportBuilds    uint64
	requests        map[int]uint64
	gpuBudgetBytes  int64
	gpuClaimedBytes int64
}

func newMetrics(gpuBudget int64) *metrics {
	return &metrics{imagesPerSec: map[string]float64{}, attemptEnds: map[string]uint64{},
		predictCounts: make([]uint64, len(predictBuckets)+1), requests: map[int]uint64{}, gpuBudgetBytes: gpuBudget}
}

func (m *metrics) SetQueue(queued, running int) {
	m.mu.Lock()
	m.queued, m.running = queued, running
	m.mu.Unlock()
}

func (m *metrics) SetGPUClaimed(n int64) {
	m.mu.Lock()
	m.gpuClaimedBytes = n
	m.mu.Unlock()
}

func (m *metrics) ObserveStep(job string, d time.Duration, batch int) {
	if d <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stepSum += d.Seconds()
	m.stepCount++
	rate := float64(batch) / d.Seconds()
	if old, ok := m.imagesPerSec[job]; ok {
		rate = 0.8*old + 0.2*rate
	}
	m.imagesPerSec[job] = rate
}

func (m *metrics) JobEnded(job string) {
	m.mu.Lock()
	delete(m.imagesPerSec, job)
	m.mu.Unlock()
}

func (m *metrics) AttemptStarted() {
	m.mu.Lock()
	m.attempts++
	m.mu.Unlock()
}

func (m *metrics) AttemptEnded(exit string) {
	m.mu.Lock()
	m.attemptEnds[exit]++
	m.mu.Unlock()
}

func (m *metrics) observePredict(d time.Duration, images int, failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if failed {
		m.predictErrors++
		return
	}
	s := d.Seconds()
	i := sort.SearchFloat64s(predictBuckets, s)
	m.predictCounts[i]++
	m.predictSum += s
	m.predictCount++
	m.predictImages += uint64(images)
}

func (m *metrics) exportBuilt() {
	m.mu.Lock()
	m.exportBuilds++
	m.mu.Unlock()
}

func (m *metrics) request(code int) {
	m.mu.Lock()
	m.requests[code]++
	m.mu.Unlock()
}

// write renders every metric; byState are the jobs in the store.
func (m *metrics) write(w io.Writer, byState map[api.State]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	help := func(name, typ, text string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	help("graft_jobs", "gauge", "Jobs in the store by state.")
	for _, s := range api.States {
		fmt.Fprintf(w, "graft_jobs{state=%q} %d\n", s, byState[s])
	}
	help("graft_queue_length", "gauge", "Jobs waiting for a worker slot.")
	fmt.Fprintf(w, "graft_queue_length %d\n", m.queued)
	help("graft_workers_running", "gauge", "Jobs with a supervisor (running or backing off).")
	fmt.Fprintf(w, "graft_workers_running %d\n", m.running)
	help("graft_worker_attempts_total", "counter", "Worker processes started.")
	fmt.Fprintf(w, "graft_worker_attempts_total %d\n", m.attempts)
	help("graft_worker_exits_total", "counter", "Worker attempts ended, by exit.")
	for _, e := range sortedKeys(m.attemptEnds) {
		fmt.Fprintf(w, "graft_worker_exits_total{exit=%q} %d\n", e, m.attemptEnds[e])
	}
	help("graft_train_step_seconds", "summary", "Time between training steps of the workers.")
	fmt.Fprintf(w, "graft_train_step_seconds_sum %g\ngraft_train_step_seconds_count %d\n", m.stepSum, m.stepCount)
	help("graft_train_images_per_second", "gauge", "Training throughput of each running job (smoothed).")
	for _, j := range sortedKeys(m.imagesPerSec) {
		fmt.Fprintf(w, "graft_train_images_per_second{job=%q} %g\n", j, m.imagesPerSec[j])
	}
	help("graft_predict_duration_seconds", "histogram", "Latency of successful predict requests.")
	var cum uint64
	for i, b := range predictBuckets {
		cum += m.predictCounts[i]
		fmt.Fprintf(w, "graft_predict_duration_seconds_bucket{le=\"%g\"} %d\n", b, cum)
	}
	cum += m.predictCounts[len(predictBuckets)]
	fmt.Fprintf(w, "graft_predict_duration_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "graft_predict_duration_seconds_sum %g\ngraft_predict_duration_seconds_count %d\n", m.predictSum, m.predictCount)
	help("graft_predict_images_total", "counter", "Images classified.")
	fmt.Fprintf(w, "graft_predict_images_total %d\n", m.predictImages)
	help("graft_predict_errors_total", "counter", "Predict requests that failed.")
	fmt.Fprintf(w, "graft_predict_errors_total %d\n", m.predictErrors)
	help("graft_export_builds_total", "counter", "Exports built (a kept, intact export is sent again without one).")
	fmt.Fprintf(w, "graft_export_builds_total %d\n", m.exportBuilds)
	help("graft_http_requests_total", "counter", "HTTP requests by status code.")
	codes := make([]int, 0, len(m.requests))
	for c := range m.requests {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "graft_http_requests_total{code=\"%d\"} %d\n", c, m.requests[c])
	}
	help("graft_gpu_memory_budget_bytes", "gauge", "Device memory GPU jobs may claim (CPU jobs bypass it).")
	fmt.Fprintf(w, "graft_gpu_memory_budget_bytes %d\n", m.gpuBudgetBytes)
	help("graft_gpu_memory_claimed_bytes", "gauge", "Device memory claimed by running GPU jobs.")
	fmt.Fprintf(w, "graft_gpu_memory_claimed_bytes %d\n", m.gpuClaimedBytes)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
