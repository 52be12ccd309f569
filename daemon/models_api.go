package daemon

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/internal/infer/predict"
)

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	m, err := s.store.Model(r.PathValue("name"), 0)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// modelAction runs a model action (:predict or :export) on a version
// (0: the latest).
func (s *Server) modelAction(w http.ResponseWriter, r *http.Request, name, action string, version int) {
	if action == "export" {
		s.exportModel(w, r, name, version)
		return
	}
	s.predict(w, r, name, version)
}

// predictLatest serves POST /v1/models/{name}:predict and :export.
func (s *Server) predictLatest(w http.ResponseWriter, r *http.Request) {
	name, action, ok := strings.Cut(r.PathValue("nameaction"), ":")
	if !ok || (action != "predict" && action != "export") {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such action: use POST /v1/models/NAME:predict or NAME:export"))
		return
	}
	s.modelAction(w, r, name, action, 0)
}

// predictVersion serves POST /v1/models/{name}/versions/{v}:predict and
// :export.
func (s *Server) predictVersion(w http.ResponseWriter, r *http.Request) {
	v, action, ok := strings.Cut(r.PathValue("vaction"), ":")
	n, err := strconv.Atoi(v)
	if !ok || (action != "predict" && action != "export") || err != nil || n < 1 {
		writeError(w, http.StatusNotFound, fmt.Errorf("use POST /v1/models/NAME/versions/N:predict (or :export) with a version number N >= 1"))
		return
	}
	s.modelAction(w, r, r.PathValue("name"), action, n)
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request, name string, version int) {
	start := time.Now()
	n, err := s.predictInto(w, r, name, version)
	if err != nil {
		code := n
		s.metrics.observePredict(0, 0, true)
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, code, err)
		return
	}
	s.metrics.observePredict(time.Since(start), n, false)
}

// predictInto answers a prediction; on error it returns the status and
// error to send, on success the number of images.
func (s *Server) predictInto(w http.ResponseWriter, r *http.Request, name string, version int) (int, error) {
	var req api.PredictRequest
	if derr := decode(w, r, s.opts.MaxPredictBytes, &req); derr != nil {
		return derr.code, fmt.Errorf("predict request: %w", derr.err)
	}
	m, release, err := s.useModel(name, version)
	if errors.Is(err, store.ErrNotFound) {
		return http.StatusNotFound, err
	}
	if err != nil {
		return http.StatusInternalServerError, err
	}
	defer release() // a deletion waits for this prediction
	if len(req.Instances) > 0 && len(req.Inputs) > 0 {
		return http.StatusBadRequest, errors.New("predict request: give instances or inputs, not both")
	}
	imgs := req.Instances
	if len(req.Inputs) > 0 {
		imgs = req.Inputs
	}
	if len(imgs) == 0 {
		return http.StatusBadRequest, fmt.Errorf("%w: no images: send {\"instances\": [{\"b64\": \"...\"}]}", ErrInput)
	}
	if len(imgs) > MaxPredictImages {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("%w: %d images; send at most %d per request", ErrInput, len(imgs), MaxPredictImages)
	}
	raws := make([][]byte, len(imgs))
	for i, img := range imgs {
		if raws[i], err = base64.StdEncoding.DecodeString(img.B64); err != nil {
			return http.StatusBadRequest, fmt.Errorf("%w: image %d: b64: %v", ErrInput, i, err)
		}
	}
	cost, err := s.sizeImages(raws)
	var tl *tooLarge
	if errors.As(err, &tl) {
		return http.StatusRequestEntityTooLarge, err
	}
	if err != nil {
		return http.StatusBadRequest, err
	}
	if err := s.predictSlots.acquire(r.Context(), 1, predictWait); err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("%w: %d predictions in flight (--max-concurrent-predicts); retry shortly", ErrBusy, s.opts.MaxConcurrentPredicts)
	}
	defer s.predictSlots.release(1)
	if err := s.predictMem.acquire(r.Context(), cost, predictWait); err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("%w: the predictions in flight hold the daemon's --predict-memory of %d bytes; retry shortly", ErrBusy, s.opts.PredictMemory)
	}
	defer s.predictMem.release(cost)
	l, err := s.models.get(m)
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("load model %s version %d: %w", m.Name, m.Version, err)
	}
	defer s.models.release(l)
	if h := predictHook.Load(); h != nil {
		(*h)()
	}
	rows, err := l.predict(r.Context(), raws, s.opts.MaxImagePixels)
	if errors.Is(err, ErrInput) {
		return http.StatusBadRequest, err
	}
	if err != nil {
		return http.StatusInternalServerError, err
	}
	res := api.PredictResponse{Classes: make([]string, len(rows)), ClassNames: l.t.Classes}
	for i, row := range rows {
		if top := predict.TopK(row, 1); len(top) == 1 && top[0].Index < len(l.t.Classes) {
			res.Classes[i] = l.t.Classes[top[0].Index]
		}
	}
	if len(req.Inputs) > 0 {
		res.Outputs = rows
	} else {
		res.Predictions = rows
	}
	writeJSON(w, http.StatusOK, res)
	return len(rows), nil
}

// inspect serves GET /v1/backbones:inspect?path=DIR[&tensors=true]
// [&tags=a,b][&signature=S]: graft inspect over HTTP.
func (s *Server) inspect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := q.Get("path")
	if p == "" {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "path: required", Fields: fieldErr("path", "required: the SavedModel directory")})
		return
	}
	real, err := s.confine(p)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: clip("path: "+err.Error(), maxErrorBytes), Fields: fieldErr("path", clip(err.Error(), maxFieldBytes))})
		return
	}
	tags := []string{"serve"}
	if t := q.Get("tags"); t != "" {
		tags = strings.Split(t, ",")
	}
	sig := q.Get("signature")
	if sig == "" {
		sig = "serving_default"
	}
	if !s.checkSlot(w, r) {
		return
	}
	rep, err := inspect.InspectIn(s.roots, real, tags, q.Get("tensors") == "true", sig)
	s.specChecks.release(1)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
