package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The store's format, its compaction and its backup.

// Format is the layout of the store (buckets, keys, records) this
// graft reads and writes, kept in meta/format. Stores written before the
// key existed are format 1: the layout did not change when it came. Raise
// it with any change an older graft would misread, migrating an older
// store at open and writing the new number in the same transaction; an
// older graft then refuses the store instead of misreading it.
const Format = 1

var formatKey = []byte("format")

// ErrNewer refuses a store written by a newer graft.
var ErrNewer = errors.New("store: written by a newer graft")

// checkFormat reads tx's store format (1 when absent) and refuses one
// newer than Format.
func checkFormat(path string, tx *bolt.Tx) error {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		return nil
	}
	v := meta.Get(formatKey)
	if v == nil {
		return nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return fmt.Errorf("store format %q is not a number", v)
	}
	if n > Format {
		return fmt.Errorf("%w: %s is in store format %d, this graft reads formats up to %d: use that graft or newer (or restore a backup this graft wrote; docs/operations.md)", ErrNewer, path, n, Format)
	}
	return nil
}

// Compaction at start: when the store's free pages (what deleted jobs,
// events and models left) are at least compactMinFree and half the file,
// the store is copied into a new, dense file that replaces it.
const compactMinFree = 16 << 20

// needsCompaction reports whether db's free pages pass the threshold.
func needsCompaction(db *bolt.DB) (free, size int64, ok bool) {
	st := db.Stats() // at open only the page counts are set
	free = int64(st.FreePageN+st.PendingPageN) * int64(db.Info().PageSize)
	if fi, err := os.Stat(db.Path()); err == nil {
		size = fi.Size()
	}
	return free, size, free >= compactMinFree && 2*free >= size
}

// compactDB copies src (open at path, locked) into a new file beside it
// and renames that over path, returning the new database, open and
// locked: no other daemon can take the file between the rename and its
// use. src is closed. On an error src stays open and path as it was.
func compactDB(src *bolt.DB, path string) (*bolt.DB, error) {
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.tmp-compact-%d", filepath.Base(path), time.Now().UnixNano()))
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("compact %s: %w", path, err)
	}
	fail := func(err error) (*bolt.DB, error) {
		dst.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("compact %s: %w (the store is unchanged)", path, err)
	}
	// Bounded transactions keep the copy's memory small; every commit
	// is fsynced.
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	syncDir(filepath.Dir(path))
	src.Close()
	return dst, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// removeCompactLeftovers removes what a compaction a crash cut short left
// beside the store (it is held locked: no compaction runs now).
func removeCompactLeftovers(path string) {
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-compact-*"))
	for _, f := range leftovers {
		os.Remove(f)
	}
}

// Compact compacts the store at path offline (graft admin compact):
// it refuses, with ErrLocked, while a daemon holds the store. It returns
// the file's size before and after.
func Compact(path string) (before, after int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("daemon: no store at %s: %w", path, err)
	}
	before = fi.Size()
	db, err := openBolt(path)
	if errors.Is(err, ErrLocked) {
		return 0, 0, fmt.Errorf("%w: stop it first (graft serve also compacts its store at start when over half of it is free pages)", err)
	}
	if err != nil {
		return 0, 0, err
	}
	removeCompactLeftovers(path)
	ndb, err := compactDB(db, path)
	if err != nil {
		db.Close()
		return 0, 0, err
	}
	defer ndb.Close()
	if fi, err := os.Stat(path); err == nil {
		after = fi.Size()
	}
	return before, after, nil
}

// Backup writes a consistent copy of the store to w (one read
// transaction: the jobs as they were when it began, while writes go on),
// after telling begin its size. The copy is a graft.db to start a daemon
// from.
func (s *Store) Backup(begin func(size int64), w io.Writer) error {
	return s.db.View(func(tx *bolt.Tx) error {
		begin(tx.Size())
		_, err := tx.WriteTo(w)
		return err
	})
}
