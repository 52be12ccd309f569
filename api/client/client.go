package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/api"
)

// DefaultServer is the daemon's default address.
const DefaultServer = "http://127.0.0.1:8470"

// Error is an error answer of the daemon: errors.As(err, &e) with a
// *Error reads its HTTP status, message and invalid spec fields.
type Error struct {
	Status  int              // the HTTP status, e.g. 404
	Message string           // the daemon's message (api.Error's error)
	Fields  []api.FieldError // the invalid spec fields of a 400, if any
}

func (e *Error) Error() string {
	return fmt.Sprintf("graft serve: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Is makes errors.Is(err, api.ErrSpec) true for an answer that lists
// invalid spec fields, as for the api.FieldErrors the daemon checked.
func (e *Error) Is(target error) bool { return target == api.ErrSpec && len(e.Fields) > 0 }

// ErrNoAnswer: the daemon did not answer (not running, wrong address,
// connection broken). The error wraps it and the transport's error.
var ErrNoAnswer = errors.New("no answer from the daemon")

// Client talks to one daemon.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8470
	Token string // sent as a bearer token when set
	HTTP  *http.Client
}

// New returns a client of the daemon at base (DefaultServer when empty).
func New(base, token string) *Client {
	if base == "" {
		base = DefaultServer
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: http.DefaultClient}
}

func (c *Client) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil || method == http.MethodPost { // the daemon takes JSON writes only
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// do sends a request and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send sends a request and returns a 2xx answer, open.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var ue *url.Error // its text repeats the address
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("client: %w at %s: %w", ErrNoAnswer, c.Base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e api.Error
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	return &Error{Status: resp.StatusCode, Message: e.Error, Fields: e.Fields}
}

// Submit creates a job.
func (c *Client) Submit(ctx context.Context, req api.JobRequest) (*api.Job, error) {
	var j api.Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs", req, &j)
}

// SubmitRaw creates a job from a spec exactly as given (e.g. a file).
func (c *Client) SubmitRaw(ctx context.Context, spec []byte) (*api.Job, error) {
	var j api.Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs", json.RawMessage(spec), &j)
}

// Jobs lists every job, oldest first, each without its summary (Job has
// it), reading the list page by page.
func (c *Client) Jobs(ctx context.Context) ([]api.Job, error) {
	return allPages(func(after string) ([]api.Job, string, error) {
		var l api.JobList
		err := c.do(ctx, http.MethodGet, "/v1/jobs?limit=1000&after="+url.QueryEscape(after), nil, &l)
		return l.Jobs, l.Next, err
	})
}

// allPages reads a paged list to its end: page returns the items after a
// cursor and the next cursor ("" at the end).
func allPages[T any](page func(after string) ([]T, string, error)) ([]T, error) {
	all := []T{} // none is an empty list, not null
	for after := ""; ; {
		items, next, err := page(after)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" || len(items) == 0 {
			return all, nil
		}
		after = next
	}
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id string) (*api.Job, error) {
	var j api.Job
	return &j, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &j)
}

// Status is the daemon's version, uptime, jobs by state and disk usage.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var st api.Status
	return &st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Cancel asks the daemon to cancel a job.
func (c *Client) Cancel(ctx context.Context, id string) (*api.Job, error) {
	var j api.Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+":cancel", nil, &j)
}

// DeleteJob deletes a job: its record, log and run directory, and with
// models the model versions it registered (without, they stay served). A
// queued or running job is refused (409) unless cancel: then the daemon
// cancels it and deletes it once its worker is gone.
func (c *Client) DeleteJob(ctx context.Context, id string, cancel, models bool) (*api.Deleted, error) {
	q := url.Values{}
	if cancel {
		q.Set("cancel", "true")
	}
	if models {
		q.Set("models", "true")
	}
	path := "/v1/jobs/" + url.PathEscape(id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var d api.Deleted
	return &d, c.do(ctx, http.MethodDelete, path, nil, &d)
}

// DeleteModel deletes a model version, or every version of the model when
// version is 0, once the predictions using it are done.
func (c *Client) DeleteModel(ctx context.Context, name string, version int) (*api.Deleted, error) {
	var d api.Deleted
	return &d, c.do(ctx, http.MethodDelete, modelPath(name, version), nil, &d)
}

// Models lists every version of the registered models, reading the list
// page by page; a version's classes are cut to the first
// api.MaxExamples (ClassCount says how many; Model has all).
func (c *Client) Models(ctx context.Context) ([]api.Model, error) {
	return allPages(func(after string) ([]api.Model, string, error) {
		var l api.ModelList
		err := c.do(ctx, http.MethodGet, "/v1/models?limit=1000&after="+url.QueryEscape(after), nil, &l)
		return l.Models, l.Next, err
	})
}

// Predict classifies encoded images with a model (version 0: latest) and
// returns one row of class probabilities per image.
func (c *Client) Predict(ctx context.Context, name string, version int, req api.PredictRequest) (*api.PredictResponse, error) {
	var out api.PredictResponse
	return &out, c.do(ctx, http.MethodPost, modelPath(name, version)+":predict", req, &out)
}

// modelPath is the path of a model version (0: the latest).
func modelPath(name string, version int) string {
	path := "/v1/models/" + url.PathEscape(name)
	if version > 0 {
		path += "/versions/" + strconv.Itoa(version)
	}
	return path
}

// Export downloads a model version (0: the latest) as one TensorFlow
// SavedModel, the daemon's tar archive in TensorFlow Serving's layout
// (NAME/VERSION/saved_model.pb), to the file dest. The archive goes to a
// temporary file beside dest, renamed at the end: dest holds a whole
// archive or is as it was (a broken download is an error and leaves
// nothing). An existing dest is refused unless overwrite.
func (c *Client) Export(ctx context.Context, name string, version int, dest string, overwrite bool) error {
	return c.ExportFormat(ctx, name, version, "", dest, overwrite)
}

// ExportFormat is Export in another format than the SavedModel ("onnx":
// the archive holds NAME/VERSION/model.onnx, Triton's model repository
// layout); "" is the SavedModel.
func (c *Client) ExportFormat(ctx context.Context, name string, version int, format, dest string, overwrite bool) error {
	path := modelPath(name, version) + ":export"
	if format != "" {
		path += "?" + url.Values{"format": {format}}.Encode()
	}
	return c.download(ctx, http.MethodPost, path, struct{}{}, dest, 0o644, overwrite, "export of "+name)
}

// Backup downloads a consistent copy of the daemon's job store (taken
// while jobs run) to the file dest, written as Export writes: dest holds
// the whole copy or is as it was. Restoring is starting graft serve with
// the copy as DATA/graft.db (docs/operations.md). The file is private
// (0600), like the store: it holds paths and class names.
func (c *Client) Backup(ctx context.Context, dest string, overwrite bool) error {
	return c.download(ctx, http.MethodGet, "/v1/admin/backup", nil, dest, 0o600, overwrite, "backup")
}

// download writes an answer's body to a temporary file beside dest,
// renamed at the end; an existing dest is refused unless overwrite.
func (c *Client) download(ctx context.Context, method, path string, body any, dest string, mode os.FileMode, overwrite bool, what string) error {
	if _, err := os.Lstat(dest); err == nil && !overwrite {
		return fmt.Errorf("client: %s to %s: %w", what, dest, fs.ErrExist)
	}
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := writeFile(dest, mode, resp.Body); err != nil {
		return fmt.Errorf("client: %s to %s: %w (nothing was written)", what, dest, err)
	}
	return nil
}

// Inspect describes a SavedModel on the daemon's host.
func (c *Client) Inspect(ctx context.Context, path string, tensors bool) (json.RawMessage, error) {
	q := url.Values{"path": {path}}
	if tensors {
		q.Set("tensors", "true")
	}
	var out json.RawMessage
	return out, c.do(ctx, http.MethodGet, "/v1/backbones:inspect?"+q.Encode(), nil, &out)
}

// ErrStop, returned by an Events callback, ends the stream without error.
var ErrStop = errors.New("client: stop")

// Events streams a job's events after sequence number after, calling fn
// for each, until the job ends (the daemon closes the stream), fn returns
// an error, or ctx ends. With follow false it returns after the events
// the job has now. It returns the last sequence number seen, with which a
// broken stream can be resumed.
func (c *Client) Events(ctx context.Context, id string, after uint64, follow bool, fn func(api.JobEvent) error) (uint64, error) {
	path := "/v1/jobs/" + url.PathEscape(id) + "/events"
	if !follow {
		path += "?follow=false"
	}
	req, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return after, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(after, 10))
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return after, fmt.Errorf("client: %w at %s: %w", ErrNoAnswer, c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return after, readError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0 && len(data) > 0:
			var e api.JobEvent
			if err := json.Unmarshal(data, &e); err != nil {
				return after, fmt.Errorf("client: event stream: %w", err)
			}
			data = data[:0]
			after = e.Seq
			if err := fn(e); err != nil {
				if errors.Is(err, ErrStop) {
					return after, nil
				}
				return after, err
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[len("data: "):]...)
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return after, err
	}
	return after, ctx.Err()
}
