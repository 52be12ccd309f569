package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/graft-ml/graft/daemon/api"
	"github.com/graft-ml/graft/internal/train"
)

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metricsHandler)
	mux.HandleFunc("POST /v1/jobs", s.createJob)
	mux.HandleFunc("GET /v1/jobs", s.listJobs)
	mux.HandleFunc("GET /v1/jobs/{id}", s.getJob)
	mux.HandleFunc("POST /v1/jobs/{idaction}", s.jobAction)
	mux.HandleFunc("GET /v1/jobs/{id}/events", s.jobEvents)
	mux.HandleFunc("GET /v1/backbones:inspect", s.inspect)
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /v1/models/{name}", s.getModel)
	mux.HandleFunc("POST /v1/models/{nameaction}", s.predictLatest)
	mux.HandleFunc("POST /v1/models/{name}/versions/{vaction}", s.predictVersion)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s (see daemon/openapi.yaml)", r.Method, r.URL.Path))
	})
	return s.middleware(mux)
}

// middleware checks the bearer token and counts responses.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		defer func() { s.metrics.request(rec.code) }()
		if s.opts.Token != "" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) != 1 {
				rec.Header().Set("WWW-Authenticate", `Bearer realm="graft"`)
				writeError(rec, http.StatusUnauthorized, errors.New("missing or wrong API token: send Authorization: Bearer TOKEN (the daemon's --token-file or GRAFT_TOKEN)"))
				return
			}
		}
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets event streams through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error()})
}

func writeFields(w http.ResponseWriter, code int, fields train.FieldErrors) {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + ": " + f.Message
	}
	writeJSON(w, code, api.Error{Error: "invalid job spec: " + strings.Join(parts, "; "), Fields: fields})
}

// decodeError is a request body that could not be read as asked.
type decodeError struct {
	code int
	err  error
}

func (e *decodeError) Error() string { return e.err.Error() }

// decode reads one JSON value of at most limit bytes into v, refusing
// unknown fields and trailing data, with messages that say what to fix.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) *decodeError {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("trailing data after the JSON object")
			if mbe := (*http.MaxBytesError)(nil); errors.As(err2, &mbe) {
				err = err2
			}
		}
	}
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &decodeError{http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", mbe.Limit)}
	case errors.Is(err, io.EOF):
		return &decodeError{http.StatusBadRequest, errors.New("empty request body: send a JSON object")}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &decodeError{http.StatusBadRequest, errors.New("malformed JSON: the body ends early")}
	case errors.As(err, &syn):
		return &decodeError{http.StatusBadRequest, fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := strings.TrimPrefix(typ.Field, "Config.")
		if field == "" {
			field = "the body"
		}
		return &decodeError{http.StatusBadRequest, fmt.Errorf("field %s: expected %s, got a JSON %s", field, typ.Type, typ.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return &decodeError{http.StatusBadRequest, fmt.Errorf("%s: not a field of this request (see daemon/openapi.yaml)", strings.TrimPrefix(err.Error(), "json: "))}
	}
	return &decodeError{http.StatusBadRequest, fmt.Errorf("bad request body: %v", err)}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, errors.New("not ready: starting or stopping"))
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler(w http.ResponseWriter, _ *http.Request) {
	jobs, err := s.store.Jobs()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	by := map[api.State]int{}
	for _, j := range jobs {
		by[j.State]++
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, by)
}
