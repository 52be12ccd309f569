package daemon

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// rotatedSuffix names a job log's one rotated file: logs/JOB.log.1.
const rotatedSuffix = ".1"

// logFiles are job id's log files, newest first: JOB.log, JOB.log.1.
func (s *Server) logFiles(id string) []string {
	return []string{s.logPath(id), s.logPath(id) + rotatedSuffix}
}

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
		if err := os.Rename(l.path, l.path+rotatedSuffix); err != nil {
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

// logTail is the last n bytes of job id's log, its rotated part before
// it, from the start of a line. A rotation between the two reads may
// show a part twice: it is for reading, not for keeping.
func (s *Server) logTail(id string, n int64) ([]byte, error) {
	var out []byte
	cut := false
	for _, p := range s.logFiles(id) { // newest first
		room := n - int64(len(out))
		if room <= 0 {
			cut = true
			break
		}
		b, whole, err := fileTail(p, room)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(b, out...)
		if !whole {
			cut = true
			break
		}
	}
	if cut { // drop the cut first line
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out, nil
}

// fileTail is the last n bytes of the file at path, and whether that is
// all of it.
func fileTail(path string, n int64) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	whole := st.Size() <= n
	if !whole {
		if _, err := f.Seek(st.Size()-n, io.SeekStart); err != nil {
			return nil, false, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	return b, whole, err
}
