package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/daemon/api"
)

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request) {
	ms, err := s.store.Models()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ModelList{Models: ms})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	m, err := s.store.Model(r.PathValue("name"), 0)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// predictLatest serves POST /v1/models/{name}:predict.
func (s *Server) predictLatest(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("nameaction"), ":predict")
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such action: use POST /v1/models/NAME:predict"))
		return
	}
	s.predict(w, r, name, 0)
}

// predictVersion serves POST /v1/models/{name}/versions/{v}:predict.
func (s *Server) predictVersion(w http.ResponseWriter, r *http.Request) {
	v, ok := strings.CutSuffix(r.PathValue("vaction"), ":predict")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 1 {
		writeError(w, http.StatusNotFound, fmt.Errorf("use POST /v1/models/NAME/versions/N:predict with a version number N >= 1"))
		return
	}
	s.predict(w, r, r.PathValue("name"), n)
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request, name string, version int) {
	start := time.Now()
	var req api.PredictRequest
	if derr := decode(w, r, s.opts.MaxPredictBytes, &req); derr != nil {
		s.metrics.observePredict(0, 0, true)
		writeError(w, derr.code, fmt.Errorf("predict request: %w", derr.err))
		return
	}
	m, err := s.store.Model(name, version)
	if err != nil {
		s.metrics.observePredict(0, 0, true)
		writeStoreError(w, err)
		return
	}
	if len(req.Instances) > 0 && len(req.Inputs) > 0 {
		s.metrics.observePredict(0, 0, true)
		writeError(w, http.StatusBadRequest, errors.New("predict request: give instances or inputs, not both"))
		return
	}
	l, err := s.models.get(m)
	if err != nil {
		s.metrics.observePredict(0, 0, true)
		writeError(w, http.StatusInternalServerError, fmt.Errorf("load model %s version %d: %w", m.Name, m.Version, err))
		return
	}
	imgs := req.Instances
	if len(req.Inputs) > 0 {
		imgs = req.Inputs
	}
	rows, err := l.predict(r.Context(), imgs)
	if err != nil {
		s.metrics.observePredict(0, 0, true)
		code := http.StatusInternalServerError
		if errors.Is(err, ErrInput) {
			code = http.StatusBadRequest
		}
		writeError(w, code, err)
		return
	}
	s.metrics.observePredict(time.Since(start), len(rows), false)
	if len(req.Inputs) > 0 {
		writeJSON(w, http.StatusOK, api.PredictResponse{Outputs: rows})
		return
	}
	writeJSON(w, http.StatusOK, api.PredictResponse{Predictions: rows})
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
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "path: " + err.Error(), Fields: fieldErr("path", err.Error())})
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
	rep, err := inspect.InspectIn(s.roots, real, tags, q.Get("tensors") == "true", sig)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
