package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/sched"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/internal/base/confine"
)

// users counts the requests using each model version (a prediction, an
// export's check or build) or job (an evaluation reading its run), so that
// a deletion waits for them before it unloads the version or removes the
// files.
type users struct {
	mu   sync.Mutex
	gone *sync.Cond // broadcast when a count drops to zero
	n    map[string]int
}

func newUsers() *users {
	u := &users{n: map[string]int{}}
	u.gone = sync.NewCond(&u.mu)
	return u
}

func versionKey(name string, version int) string { return name + "@" + strconv.Itoa(version) }

// jobKey is a job's key among the users (no model name has a space).
func jobKey(id string) string { return "job " + id }

func (u *users) add(k string) {
	u.mu.Lock()
	u.n[k]++
	u.mu.Unlock()
}

func (u *users) done(k string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[k]--; u.n[k] == 0 {
		delete(u.n, k)
		u.gone.Broadcast()
	}
}

// drain waits until nobody uses k.
func (u *users) drain(k string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for u.n[k] > 0 {
		u.gone.Wait()
	}
}

// predictHook, when set (tests only), runs while a prediction holds its
// loaded model, so a test can hold a prediction in flight.
var predictHook atomic.Pointer[func()]

// hold counts a user of k, once stored confirms that what k names is
// still in the store, until release is called. A deletion removes it from
// the store first and then drains its users, so a request that takes hold
// after the removal finds it gone here and does nothing with it.
func (s *Server) hold(k string, stored func() error) (release func(), err error) {
	s.users.add(k)
	if err := stored(); err != nil {
		s.users.done(k)
		return nil, err
	}
	return func() { s.users.done(k) }, nil
}

// useModel looks up a model version (0: the latest) and holds it against
// deletion until release is called.
func (s *Server) useModel(name string, version int) (m *api.Model, release func(), err error) {
	if m, err = s.store.Model(name, version); err != nil {
		return nil, nil, err
	}
	release, err = s.hold(versionKey(m.Name, m.Version), func() error {
		_, err := s.store.Model(m.Name, m.Version)
		return err
	})
	return m, release, err
}

// useJob holds job id against deletion (its run directory is read) until
// release is called.
func (s *Server) useJob(id string) (release func(), err error) {
	return s.hold(jobKey(id), func() error {
		_, err := s.store.Job(id)
		return err
	})
}

// deleteVersion removes a model version: from the store (the latest is
// then the newest left), then, once its predictions and export builds in
// flight are done, from memory and disk (its export and manifest; its run
// directory too when its job is deleted already). A download under way
// either completes or breaks off: files are opened one at a time, and a
// removed one ends it.
func (s *Server) deleteVersion(m api.Model) error {
	if err := s.store.DeleteModelVersion(m.Name, m.Version); err != nil {
		return err
	}
	k := versionKey(m.Name, m.Version)
	s.users.drain(k)
	s.models.drop(k)
	if dir, ok := s.exportDir(m.Name, m.Version); ok {
		if err := s.removeExports(dir); err != nil {
			return fmt.Errorf("model %s version %d is deleted, but its exports %s* are not: %w (remove them by hand)", m.Name, m.Version, dir, err)
		}
		os.Remove(filepath.Dir(dir)) // when empty
	}
	if _, err := s.store.Job(m.JobID); errors.Is(err, store.ErrNotFound) {
		return s.removeRun(m.JobID, m.RunDir)
	}
	return nil
}

// removeRun removes a deleted job's run directory, when it is one the
// daemon made under its data directory.
func (s *Server) removeRun(id, dir string) error {
	if dir != s.runDir(id) || !confine.Within(filepath.Join(s.dataDir, "runs"), dir) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("the run directory %s of %s is left: %w (remove it by hand)", dir, id, err)
	}
	return nil
}

// versionsOf lists the versions of a model, or those a job registered.
func (s *Server) versionsOf(keep func(m api.Model) bool) ([]api.Model, error) {
	ms, err := s.store.Models()
	if err != nil {
		return nil, err
	}
	var out []api.Model
	for _, m := range ms {
		if keep(m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// errActive is a queued or running job asked to be deleted without
// ?cancel=true.
var errActive = errors.New("daemon: the job has not ended")

// deleteJob removes job id: its record and event log, log file and run
// directory, and with models its model versions. Without models its
// versions stay served, and so does the run directory they load from
// (it goes with the last of them). A queued or running job is refused
// with errActive unless cancel: then it is cancelled, and deleted once
// its worker is gone. Its files go once the evaluations reading its run
// are done.
func (s *Server) deleteJob(id string, cancel, models bool) (*api.Deleted, error) {
	s.deleting.Lock() // one deletion at a time: none races another over a job's files
	defer s.deleting.Unlock()
	for {
		j, err := s.store.Job(id)
		if err != nil {
			return nil, err
		}
		ended, queued := s.sched.Supervised(id)
		if ended == nil && !queued && (j.State.Final() || j.CancelReq) {
			break // nothing runs it, nor will
		}
		if !cancel {
			return nil, fmt.Errorf("%w: %s is %s: cancel it first (POST /v1/jobs/%s:cancel), or delete with ?cancel=true (graft jobs rm --cancel)", errActive, id, j.State, id)
		}
		if !j.CancelReq {
			if _, err := s.sched.Cancel(id); err != nil && !errors.Is(err, sched.ErrFinal) {
				return nil, err
			}
		}
		if ended != nil {
			<-ended // the worker has stopped: 1 s after SIGTERM at most
		}
	}
	out := &api.Deleted{Job: id, Models: []api.VersionRef{}}
	vs, err := s.versionsOf(func(m api.Model) bool { return m.JobID == id })
	if err != nil {
		return nil, err
	}
	for _, m := range vs {
		ref := api.VersionRef{Name: m.Name, Version: m.Version}
		if !models {
			out.Kept = append(out.Kept, ref)
			continue
		}
		if err := s.deleteVersion(m); err != nil {
			return nil, err
		}
		out.Models = append(out.Models, ref)
	}
	j, err := s.store.Job(id)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteJob(id); err != nil {
		return nil, err
	}
	s.hub.Notify(id, nil) // its event streams end
	s.users.drain(jobKey(id))
	for _, log := range s.logFiles(id) {
		if err := os.Remove(log); err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, fmt.Errorf("job %s is deleted, but its log %s is not: %w (remove it by hand)", id, log, err)
		}
	}
	if len(out.Kept) == 0 {
		if err := s.removeRun(id, j.RunDir); err != nil {
			return out, fmt.Errorf("job %s is deleted, but %w", id, err)
		}
	}
	s.log.Info("job deleted", zap.String("job", id), zap.Any("models_deleted", out.Models), zap.Any("models_kept", out.Kept))
	return out, nil
}

// deleteModel removes version v of a model, or every version when v is 0.
func (s *Server) deleteModel(name string, v int) (*api.Deleted, error) {
	s.deleting.Lock()
	defer s.deleting.Unlock()
	vs, err := s.versionsOf(func(m api.Model) bool { return m.Name == name && (v == 0 || m.Version == v) })
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		if v == 0 {
			return nil, fmt.Errorf("%w: model %q has no versions", store.ErrNotFound, name)
		}
		return nil, fmt.Errorf("%w: model %q version %d", store.ErrNotFound, name, v)
	}
	out := &api.Deleted{Models: []api.VersionRef{}}
	for _, m := range vs {
		if err := s.deleteVersion(m); err != nil {
			return out, err
		}
		out.Models = append(out.Models, api.VersionRef{Name: m.Name, Version: m.Version})
		s.log.Info("model version deleted", zap.String("model", m.Name), zap.Int("version", m.Version))
	}
	return out, nil
}

// boolParam reads a true/false query parameter (absent: false).
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%s: use %s=true or %s=false", name, quote(v), name, name)
	}
	return b, nil
}

// deleteJobHandler serves DELETE /v1/jobs/{id}[?cancel=true][&models=true].
func (s *Server) deleteJobHandler(w http.ResponseWriter, r *http.Request) {
	cancel, err := boolParam(r, "cancel")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	models, err := boolParam(r, "models")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	out, err := s.deleteJob(r.PathValue("id"), cancel, models)
	writeDeleted(w, out, err)
}

// deleteModelHandler serves DELETE /v1/models/{name} (every version).
func (s *Server) deleteModelHandler(w http.ResponseWriter, r *http.Request) {
	out, err := s.deleteModel(r.PathValue("name"), 0)
	writeDeleted(w, out, err)
}

// deleteVersionHandler serves DELETE /v1/models/{name}/versions/{v}.
func (s *Server) deleteVersionHandler(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.Atoi(r.PathValue("v"))
	if err != nil || v < 1 {
		writeError(w, http.StatusNotFound, fmt.Errorf("use DELETE /v1/models/NAME/versions/N with a version number N >= 1"))
		return
	}
	out, err := s.deleteModel(r.PathValue("name"), v)
	writeDeleted(w, out, err)
}

func writeDeleted(w http.ResponseWriter, out *api.Deleted, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, out)
	case errors.Is(err, errActive):
		writeError(w, http.StatusConflict, err)
	default:
		writeStoreError(w, err)
	}
}
