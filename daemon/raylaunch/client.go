package raylaunch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Job states as Ray's Jobs API reports them.
const (
	Pending   = "PENDING"
	Running   = "RUNNING"
	Stopped   = "STOPPED"
	Succeeded = "SUCCEEDED"
	Failed    = "FAILED"
)

// Terminal reports a state after which a Ray job never runs again.
func Terminal(status string) bool {
	return status == Stopped || status == Succeeded || status == Failed
}

// ErrNotFound is Ray's answer for a submission id it does not know.
var ErrNotFound = errors.New("ray: no such job")

// Submission is what POST /api/jobs/ takes.
type Submission struct {
	Entrypoint   string `json:"entrypoint"`
	SubmissionID string `json:"submission_id,omitempty"`
	// RuntimeEnv is Ray's runtime_env; graft uses env_vars only.
	RuntimeEnv *RuntimeEnv        `json:"runtime_env,omitempty"`
	Metadata   map[string]string  `json:"metadata,omitempty"`
	NumCPUs    float64            `json:"entrypoint_num_cpus,omitempty"`
	NumGPUs    float64            `json:"entrypoint_num_gpus,omitempty"`
	Memory     int64              `json:"entrypoint_memory,omitempty"`
	Resources  map[string]float64 `json:"entrypoint_resources,omitempty"`
	// LabelSelector pins the entrypoint to nodes with these labels (the
	// probe uses Ray's ray.io/node-id label to reach every node).
	LabelSelector map[string]string `json:"entrypoint_label_selector,omitempty"`
}

// RuntimeEnv is the part of Ray's runtime_env graft sets.
type RuntimeEnv struct {
	EnvVars map[string]string `json:"env_vars,omitempty"`
}

// JobInfo is one job as GET /api/jobs/{id} reports it (the fields graft
// reads).
type JobInfo struct {
	SubmissionID string            `json:"submission_id"`
	JobID        *string           `json:"job_id"`
	Status       string            `json:"status"`
	Entrypoint   string            `json:"entrypoint"`
	Message      string            `json:"message"`
	ErrorType    *string           `json:"error_type"`
	StartTime    int64             `json:"start_time"` // ms since the epoch
	EndTime      int64             `json:"end_time"`
	Metadata     map[string]string `json:"metadata"`
	DriverNodeID string            `json:"driver_node_id"`
	ExitCode     *int              `json:"driver_exit_code"`
}

// Node is one node of the cluster (Ray's state API).
type Node struct {
	ID     string             `json:"node_id"`
	IP     string             `json:"node_ip"`
	Name   string             `json:"node_name"`
	Head   bool               `json:"is_head_node"`
	State  string             `json:"state"`
	Total  map[string]float64 `json:"resources_total"`
	Labels map[string]string  `json:"labels"`
}

// Client talks to one Ray cluster's dashboard (its Jobs API).
type Client struct {
	Base string // e.g. http://127.0.0.1:8265
	HTTP *http.Client
}

// New returns a client of the Ray dashboard at address (scheme optional).
func New(address string) (*Client, error) {
	if address == "" {
		return nil, fmt.Errorf("ray: no address: pass --ray-address http://HEAD:8265 (the head node's dashboard)")
	}
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("ray: address %q: want http://HOST:PORT of the head node's dashboard (default port 8265)", address)
	}
	return &Client{Base: strings.TrimRight(address, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}

// do sends one request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("ray: no answer from the Ray dashboard at %s (is the head node up? ray start --head --dashboard-host ...): %w", c.Base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("ray: %s %s: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s %s", ErrNotFound, method, path)
	}
	if resp.StatusCode/100 != 2 {
		return &Error{Status: resp.StatusCode, Method: method, Path: path, Body: lastLines(string(b), 3)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("ray: %s %s: answer is not the JSON expected (is %s a Ray dashboard?): %w", method, path, c.Base, err)
	}
	return nil
}

// Error is an error answer of Ray's dashboard.
type Error struct {
	Status       int
	Method, Path string
	Body         string
}

func (e *Error) Error() string {
	return fmt.Sprintf("ray: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Body)
}

// lastLines keeps the end of an error body (Ray answers with a Python
// traceback; its last lines say what was wrong).
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Submit submits a job and returns its submission id. Submitting an id
// Ray already knows fails (ErrExists): the caller attaches to it instead.
func (c *Client) Submit(ctx context.Context, s Submission) (string, error) {
	if s.Entrypoint == "" {
		return "", fmt.Errorf("ray: submit: empty entrypoint")
	}
	var out struct {
		SubmissionID string `json:"submission_id"`
	}
	err := c.do(ctx, http.MethodPost, "/api/jobs/", s, &out)
	var re *Error
	if errors.As(err, &re) && strings.Contains(re.Body, "already exists") {
		return "", fmt.Errorf("%w: %s", ErrExists, s.SubmissionID)
	}
	if err != nil {
		return "", err
	}
	return out.SubmissionID, nil
}

// ErrExists is Ray's refusal of a submission id it already holds.
var ErrExists = errors.New("ray: a job with this submission id already exists")

// Job returns the job's state.
func (c *Client) Job(ctx context.Context, id string) (*JobInfo, error) {
	var j JobInfo
	if err := c.do(ctx, http.MethodGet, "/api/jobs/"+url.PathEscape(id), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Jobs lists every job the cluster knows.
func (c *Client) Jobs(ctx context.Context) ([]JobInfo, error) {
	var js []JobInfo
	if err := c.do(ctx, http.MethodGet, "/api/jobs/", nil, &js); err != nil {
		return nil, err
	}
	return js, nil
}

// Logs returns the job's whole log (its entrypoint's stdout and stderr).
func (c *Client) Logs(ctx context.Context, id string) (string, error) {
	var out struct {
		Logs string `json:"logs"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/jobs/"+url.PathEscape(id)+"/logs", nil, &out); err != nil {
		return "", err
	}
	return out.Logs, nil
}

// Stop asks Ray to stop the job (SIGTERM to its entrypoint's process
// group, SIGKILL after RAY_JOB_STOP_WAIT_TIME_S); it reports whether the
// job was still running.
func (c *Client) Stop(ctx context.Context, id string) (bool, error) {
	var out struct {
		Stopped bool `json:"stopped"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/jobs/"+url.PathEscape(id)+"/stop", nil, &out); err != nil {
		return false, err
	}
	return out.Stopped, nil
}

// Nodes lists the cluster's nodes, dead ones included.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out struct {
		Result bool   `json:"result"`
		Msg    string `json:"msg"`
		Data   struct {
			Result struct {
				Result []Node `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v0/nodes?limit=1000", nil, &out); err != nil {
		return nil, err
	}
	if !out.Result {
		return nil, fmt.Errorf("ray: list nodes: %s", out.Msg)
	}
	return out.Data.Result.Result, nil
}

// SubmissionID is the Ray submission id of a job's attempt: derived from
// the daemon (its id, see DaemonID: job ids are only unique within one
// daemon's data directory), the job and the attempt, so that a daemon
// that restarts finds the attempt it had submitted instead of submitting
// it twice.
func SubmissionID(daemonID, job string, attempt int) string {
	return fmt.Sprintf("graft-%s-%s-a%d", daemonID, job, attempt)
}

// ShardSubmissionID is the Ray submission id of try try of shard index
// of a job's attempt (one Ray job per shard try).
func ShardSubmissionID(daemonID, job string, attempt, index, try int) string {
	return fmt.Sprintf("%s-s%d-t%d", SubmissionID(daemonID, job, attempt), index, try)
}

// Delete forgets an ended job (its record and log).
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/jobs/"+url.PathEscape(id), nil, nil)
}
