package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/graft-ml/graft/api"
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
	mux.HandleFunc("DELETE /v1/jobs/{id}", s.deleteJobHandler)
	mux.HandleFunc("GET /v1/jobs/{id}/events", s.jobEvents)
	mux.HandleFunc("GET /v1/backbones:inspect", s.inspect)
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /v1/models/{name}", s.getModel)
	mux.HandleFunc("POST /v1/models/{nameaction}", s.predictLatest)
	mux.HandleFunc("POST /v1/models/{name}/versions/{vaction}", s.predictVersion)
	mux.HandleFunc("DELETE /v1/models/{name}", s.deleteModelHandler)
	mux.HandleFunc("DELETE /v1/models/{name}/versions/{v}", s.deleteVersionHandler)
	mux.HandleFunc("GET /v1/admin/backup", s.backup)
	mux.HandleFunc("GET /v1/status", s.status)
	s.uiRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s (see daemon/openapi.yaml)", r.Method, r.URL.Path))
	})
	return admitting(s.withUI(s.middleware(mux)))
}

// middleware checks where a request comes from (Host, Origin), that a
// write is JSON, and the bearer token, and counts responses.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		defer func() { s.metrics.request(rec.code) }()
		if code, err := s.checkOrigin(r); err != nil {
			rec.Header().Set("Connection", "close") // it may not keep a connection
			writeError(rec, code, err)
			return
		}
		if s.opts.Token != "" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			// The token is checked before the limiter: a client with the
			// right token is never refused because others guessed wrong
			// (or sent none) from the same address.
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) != 1 {
				// A client without the token keeps no connection (it
				// would hold one of --max-connections).
				rec.Header().Set("Connection", "close")
				client, _, _ := net.SplitHostPort(r.RemoteAddr)
				if !s.authFails.allow(client) {
					rec.Header().Set("Retry-After", "10")
					writeError(rec, http.StatusTooManyRequests, errors.New("too many requests with a missing or wrong API token from this address: wait 10 s, then send Authorization: Bearer TOKEN"))
					return
				}
				s.authFails.fail(client)
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

// Error messages quote what a request sent (names, paths, tags, unknown
// fields); these bound how much, so a huge value is never echoed whole.
const (
	maxErrorBytes = 4096 // an answer's error
	maxFieldBytes = 1024 // one field's message
	maxQuoteBytes = 128  // a value quoted in a message
)

// clip cuts s to at most max bytes (at a character boundary), saying how
// much it left out.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", s[:cut], len(s)-cut)
}

// quote is %q of a bounded prefix of a request's value.
func quote(v string) string { return strconv.Quote(clip(v, maxQuoteBytes)) }

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: clip(err.Error(), maxErrorBytes)})
}

func writeFields(w http.ResponseWriter, code int, fields api.FieldErrors) {
	parts := make([]string, len(fields))
	for i := range fields {
		fields[i].Message = clip(fields[i].Message, maxFieldBytes)
		parts[i] = fields[i].Field + ": " + fields[i].Message
	}
	writeJSON(w, code, api.Error{Error: clip("invalid job spec: "+strings.Join(parts, "; "), maxErrorBytes), Fields: fields})
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
	var fe api.FieldErrors
	switch {
	case errors.As(err, &fe): // a value parsed as it is read (a device)
		return &decodeError{http.StatusBadRequest, fe}
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
	if err := s.diskSpace(); err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("not ready: %w", err))
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler(w http.ResponseWriter, _ *http.Request) {
	by, err := s.jobsByState()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, by)
	s.writeDiskMetrics(w)
	s.writeCacheMetrics(w)
}

// checkOrigin refuses what a web page the user visits could send: a
// request for a Host name this daemon does not serve (DNS rebinding: a
// foreign name resolving to the loopback), a request from a foreign
// Origin, and a write that is not JSON (HTML forms and "simple" cross-site
// requests cannot send application/json without a CORS preflight, which
// this daemon never grants). With a token, the Host is not checked: the
// token is what protects, and the daemon may be reached by any name.
func (s *Server) checkOrigin(r *http.Request) (int, error) {
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		return 0, nil
	}
	if s.opts.Token == "" && !s.hostAllowed(r.Host) {
		return http.StatusMisdirectedRequest, fmt.Errorf("Host %q is not a name this daemon serves (loopback addresses and localhost; more with graft serve --allow-host NAME)", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !s.hostAllowed(u.Host) {
			return http.StatusForbidden, fmt.Errorf("Origin %q is not allowed: this API does not serve web pages of other sites (graft serve --allow-host NAME allows a name)", o)
		}
	}
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: send the body as JSON with Content-Type: application/json", r.Header.Get("Content-Type"))
		}
	}
	return 0, nil
}

// hostAllowed reports whether host (a Host header: name or name:port) is
// one this daemon answers to: a loopback address, localhost, or a name
// given with --allow-host.
func (s *Server) hostAllowed(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if IsLoopback(name) || strings.EqualFold(name, "localhost") {
		return true
	}
	for _, a := range s.opts.AllowHosts {
		if strings.EqualFold(a, name) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}
