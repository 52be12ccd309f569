package sched

import (
	"os"
	"path/filepath"
	"sync"
)

// RotatedSuffix names a job log's one rotated file: logs/JOB.log.1.
const RotatedSuffix = ".1"

// jobLog is a job's worker log, bounded: when a write would take
// logs/JOB.log past half of max it becomes logs/JOB.log.1 (replacing the
// older one) and a new JOB.log begins, so a job's logs never hold more
// than max bytes and always the newest output.
type jobLog struct {
	mu   sync.Mutex
	path string
	half int64
	f    *os.File
	size int64
}

// openLog opens a job's log for appending, private like the database:
// logs hold paths, class names and errors.
func openLog(path string, maxBytes int64) (*jobLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l := &jobLog{path: path, half: max(maxBytes/2, 1)}
	return l, l.open()
}

func (l *jobLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would not fit; of a write
// larger than a file may hold only its end is kept. It reports p written
// whole: the worker's output must not stall on its log.
func (l *jobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if int64(len(p)) > l.half {
		p = p[int64(len(p))-l.half:]
	}
	if l.size+int64(len(p)) > l.half && l.size > 0 {
		l.f.Close()
		if err := os.Rename(l.path, l.path+RotatedSuffix); err != nil {
			return 0, err
		}
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	m, err := l.f.Write(p)
	l.size += int64(m)
	if err != nil {
		return m, err
	}
	return n, nil
}

func (l *jobLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
