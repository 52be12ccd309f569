package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/graft-ml/graft/api"
)

// Sentinel errors of the store.
var (
	ErrNotFound = errors.New("store: not found")
	ErrLocked   = errors.New("store: the database is in use by another graft serve")
)

var (
	jobsBucket   = []byte("jobs")
	eventsBucket = []byte("events") // one sub-bucket per job, keyed by seq
	modelsBucket = []byte("models") // one sub-bucket per name, keyed by version
	metaBucket   = []byte("meta")   // the store's identity and format
	storeIDKey   = []byte("id")
)

// Store is the durable state of the daemon in a bbolt file: jobs with
// their attempts, each job's event log, and the registered models. Every
// change is one transaction, fsynced before it returns.
type Store struct {
	db *bolt.DB
	id string
	// Compacted says what Open's compaction did ("" if none was
	// due), for the daemon's log.
	Compacted string
}

// Open opens (creating) the database at path. A second daemon on
// the same file gets ErrLocked instead of waiting; a file that is not a
// sound database is refused with what to do, never recreated over.
func Open(path string) (*Store, error) {
	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	removeCompactLeftovers(path) // it is ours now: no compaction runs
	var compacted string
	if free, size, ok := needsCompaction(db); ok {
		if ndb, err := compactDB(db, path); err != nil {
			compacted = fmt.Sprintf("not compacted (%d free bytes of %d): %v", free, size, err)
		} else {
			db = ndb
			compacted = fmt.Sprintf("compacted: %d free bytes of %d", free, size)
		}
	}
	var id string
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{jobsBucket, eventsBucket, modelsBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		if meta.Get(formatKey) == nil {
			if err := meta.Put(formatKey, []byte(strconv.Itoa(Format))); err != nil {
				return err
			}
		}
		if v := meta.Get(storeIDKey); v != nil {
			id = string(v)
			return nil
		}
		var r [12]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		id = hex.EncodeToString(r[:])
		return meta.Put(storeIDKey, []byte(id))
	})
	if err != nil {
		db.Close()
		return nil, damaged(path, err)
	}
	return &Store{db: db, id: id, Compacted: compacted}, nil
}

// openBolt opens the database at path, locked (ErrLocked when another
// process holds it), and checks its format.
func openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, damaged(path, err)
	}
	if err := db.View(func(tx *bolt.Tx) error { return checkFormat(path, tx) }); err != nil {
		db.Close()
		if errors.Is(err, ErrNewer) {
			return nil, err
		}
		return nil, damaged(path, err)
	}
	return db, nil
}

// damaged says what to do about a database graft cannot open.
func damaged(path string, err error) error {
	return fmt.Errorf("daemon: %s is damaged or not a graft database (%v): graft serve will not start over it. Move it aside (mv %s %s.damaged) and start again: the jobs it recorded are forgotten, but their run directories, logs and exports stay, and new jobs get ids past them", path, err, path, path)
}

// ID is the store's identity, made at its creation: a run directory's
// stamp (rundir.Owner) names the store of its job.
func (s *Store) ID() string { return s.id }

// Reserve moves the job id counter past lastJob and each model's version
// counter past the version given, so that a new job or version never
// takes the name of a run directory, log or export already on disk (one
// a lost or older store did not record). Counters already past are kept.
func (s *Store) Reserve(lastJob uint64, versions map[string]uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(jobsBucket)
		if jobs.Sequence() < lastJob {
			if err := jobs.SetSequence(lastJob); err != nil {
				return err
			}
		}
		for name, v := range versions {
			mb, err := tx.Bucket(modelsBucket).CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if mb.Sequence() < v {
				if err := mb.SetSequence(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func key(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

func getJob(tx *bolt.Tx, id string) (*api.Job, error) {
	b := tx.Bucket(jobsBucket).Get([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	return readJob(b)
}

// readJob reads a stored job record: the current format, or one written
// before records carried their version (format 0: the same fields).
func readJob(b []byte) (*api.Job, error) {
	j := &api.Job{}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, err
	}
	if err := api.CheckVersion("job record "+j.ID, j.Format); err != nil {
		return nil, err
	}
	return j, nil
}

func putJob(tx *bolt.Tx, j *api.Job) error {
	j.Format = api.Version
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return tx.Bucket(jobsBucket).Put([]byte(j.ID), b)
}

// appendEvents numbers evs after the job's last event and stores them.
func appendEvents(tx *bolt.Tx, id string, evs []api.JobEvent) error {
	if len(evs) == 0 {
		return nil
	}
	b, err := tx.Bucket(eventsBucket).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	for i := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		evs[i].Seq = seq
		if evs[i].Time.IsZero() {
			evs[i].Time = time.Now().UTC()
		}
		v, err := json.Marshal(evs[i])
		if err != nil {
			return err
		}
		if err := b.Put(key(seq), v); err != nil {
			return err
		}
	}
	return nil
}

// CreateJob gives j the next job id (and whatever init sets from it),
// stores it and its first events.
func (s *Store) CreateJob(j *api.Job, init func(j *api.Job), evs ...api.JobEvent) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		seq, err := tx.Bucket(jobsBucket).NextSequence()
		if err != nil {
			return err
		}
		j.ID = fmt.Sprintf("job-%06d", seq)
		now := time.Now().UTC()
		j.Created, j.Updated = now, now
		if init != nil {
			init(j)
		}
		if err := putJob(tx, j); err != nil {
			return err
		}
		return appendEvents(tx, j.ID, evs)
	})
}

// Update changes job id in one transaction: fn edits the job and returns
// the events to append (numbered on return). An error from fn aborts.
func (s *Store) Update(id string, fn func(j *api.Job) ([]api.JobEvent, error)) (*api.Job, []api.JobEvent, error) {
	var j *api.Job
	var evs []api.JobEvent
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if j, err = getJob(tx, id); err != nil {
			return err
		}
		if evs, err = fn(j); err != nil {
			return err
		}
		j.Updated = time.Now().UTC()
		if err := putJob(tx, j); err != nil {
			return err
		}
		return appendEvents(tx, id, evs)
	})
	return j, evs, err
}

// Succeed marks job id succeeded with the run's classes and summary,
// registers its run as the next version of its model, and appends evs,
// all in one transaction.
func (s *Store) Succeed(id string, classes []string, fn func(j *api.Job), evs ...api.JobEvent) (*api.Job, []api.JobEvent, error) {
	var j *api.Job
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if j, err = getJob(tx, id); err != nil {
			return err
		}
		mb, err := tx.Bucket(modelsBucket).CreateBucketIfNotExists([]byte(j.Model))
		if err != nil {
			return err
		}
		v, err := mb.NextSequence()
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		m := api.Model{Name: j.Model, Version: int(v), JobID: j.ID, RunDir: j.RunDir, Classes: classes, Created: now}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := mb.Put(key(v), b); err != nil {
			return err
		}
		j.State, j.Version, j.Updated = api.Succeeded, int(v), now
		fn(j)
		if err := putJob(tx, j); err != nil {
			return err
		}
		return appendEvents(tx, id, evs)
	})
	return j, evs, err
}

// Job returns job id.
func (s *Store) Job(id string) (*api.Job, error) {
	var j *api.Job
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		j, err = getJob(tx, id)
		return err
	})
	return j, err
}

// Jobs returns every job, oldest first.
func (s *Store) Jobs() ([]api.Job, error) {
	out := []api.Job{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(_, v []byte) error {
			j, err := readJob(v)
			if err != nil {
				return err
			}
			out = append(out, *j)
			return nil
		})
	})
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, err
}

// Events returns up to limit events of job id with Seq > after.
func (s *Store) Events(id string, after uint64, limit int) ([]api.JobEvent, error) {
	var out []api.JobEvent
	if after == math.MaxUint64 { // nothing follows the last possible event
		return nil, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(eventsBucket).Bucket([]byte(id))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(key(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e api.JobEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Models returns every registered model version, by name then version.
func (s *Store) Models() ([]api.Model, error) {
	out := []api.Model{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(modelsBucket).ForEachBucket(func(name []byte) error {
			return tx.Bucket(modelsBucket).Bucket(name).ForEach(func(_, v []byte) error {
				var m api.Model
				if err := json.Unmarshal(v, &m); err != nil {
					return err
				}
				out = append(out, m)
				return nil
			})
		})
	})
	return out, err
}

// Model returns a version of a model; version 0 is the latest.
func (s *Store) Model(name string, version int) (*api.Model, error) {
	var m *api.Model
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(modelsBucket).Bucket([]byte(name))
		if b == nil {
			return fmt.Errorf("%w: model %q", ErrNotFound, name)
		}
		var v []byte
		if version == 0 {
			_, v = b.Cursor().Last()
		} else {
			v = b.Get(key(uint64(version)))
		}
		if v == nil {
			return fmt.Errorf("%w: model %q version %d", ErrNotFound, name, version)
		}
		m = &api.Model{}
		return json.Unmarshal(v, m)
	})
	return m, err
}

// DeleteJob removes job id's record and its event log. The job id counter
// is the bucket's sequence, which a deletion leaves as it is: the id is
// never issued again.
func (s *Store) DeleteJob(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getJob(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(jobsBucket).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(eventsBucket).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		return nil
	})
}

// DeleteModelVersion removes a version of a model. The model's bucket
// stays, even empty: its sequence is the version counter, so a deleted
// version's number is never issued again.
func (s *Store) DeleteModelVersion(name string, version int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(modelsBucket).Bucket([]byte(name))
		if b == nil || b.Get(key(uint64(version))) == nil {
			return fmt.Errorf("%w: model %q version %d", ErrNotFound, name, version)
		}
		return b.Delete(key(uint64(version)))
	})
}
