package daemon

import (
	"bytes"
	"errors"
	"io"
	"os"

	"github.com/graft-ml/graft/daemon/sched"
)

// logFiles are job id's log files, newest first: JOB.log, JOB.log.1.
func (s *Server) logFiles(id string) []string {
	return []string{s.logPath(id), s.logPath(id) + sched.RotatedSuffix}
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
