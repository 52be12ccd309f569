package daemon_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/run/worker"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/crc32c"
)

// Issue 22, defect 2: a 16-byte TFRecord whose length prefix says 1 GiB
// (its checksum valid) is refused with 422 on the data field, naming the
// file and the record's offset, without the daemon allocating the gigabyte.
func TestLyingTFRecordLength(t *testing.T) {
	f := newFixture(t, 1)
	recs := t.TempDir()
	path := filepath.Join(recs, "lie.tfrecord")
	head := binary.LittleEndian.AppendUint64(nil, 1<<30)
	head = binary.LittleEndian.AppendUint32(head, crc32c.Mask(crc32c.Checksum(head)))
	if err := os.WriteFile(path, append(head, 0, 0, 0, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, recs)})
	before := allocatedBytes()
	const tries = 4 // 4 GiB allocated before the fix
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := f.spec(1)
			req.Data = path
			// Beyond the daemon's submission slots the answer is 503 with
			// Retry-After: a client waits and tries again, as this one.
			for range 100 {
				_, errs[i] = s.Submit(context.Background(), req)
				if e, ok := errs[i].(*client.Error); !ok || e.Status != http.StatusServiceUnavailable {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if got := allocatedBytes() - before; got > 256<<20 {
		t.Errorf("%d submissions of a 16-byte file allocated %d bytes in the daemon", tries, got)
	}
	// As validation data it is the val field's.
	req := f.spec(1)
	req.Val = path
	_, err := s.Submit(context.Background(), req)
	errs = append(errs, err)
	for i, err := range errs {
		field := "data"
		if i == tries {
			field = "val"
		}
		e, ok := err.(*client.Error)
		if !ok || e.Status != 422 || len(e.Fields) != 1 || e.Fields[0].Field != field {
			t.Fatalf("%v (%+v); want 422 on %s", err, e, field)
		}
		for _, want := range []string{path, "record 0 (byte 0)", "1073741824", "write the file again"} {
			if !strings.Contains(e.Fields[0].Message, want) {
				t.Errorf("message %q does not say %q", e.Fields[0].Message, want)
			}
		}
	}
}

// allocatedBytes is what this process (the in-process daemon) has
// allocated so far, freed or not.
func allocatedBytes() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// Issue 22, defect 6: a data set with 12k byte-identical (not images, so
// bad; empty ones are bad before they are grouped) files with long names besides its good images trains to success: the
// summary, the events and the job log carry counts and a few examples,
// and the run directory lists every file. Before, the one duplicate
// group's paths made the done line longer than worker.MaxLine: it was
// skipped and the run judged unfinished.
func TestLargeDataSetSucceeds(t *testing.T) {
	f := newFixture(t, 2)
	val := testmodules.Digits(t, "train", 100, 1)
	const n = 12_000
	long := strings.Repeat("x", 240) // long paths: fewer files fill a line
	dir := filepath.Join(f.data, "0", long, long)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	line := 0 // what the old summary's one group took in JSON
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("%s-%05d.png", long, i))
		if err := os.WriteFile(p, []byte("not an image\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want[p] = true
		line += len(p) + 3
	}
	if line <= worker.MaxLine {
		t.Fatalf("the test's paths take %d bytes, not over the %d-byte line limit", line, worker.MaxLine)
	}
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, val)})
	ctx := context.Background()
	req := f.spec(1)
	req.Val = val
	j, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Succeeded || len(j.Attempts) != 1 {
		t.Fatalf("job %s after %d attempts: %q", j.State, len(j.Attempts), j.Error)
	}
	d := j.Summary.Duplicates
	if d.Groups != 1 || d.Files != n || len(d.Examples) != 1 || len(d.Examples[0]) != api.MaxExamples || d.List != "duplicates.jsonl" {
		t.Errorf("duplicates: %d groups, %d files, examples %d, list %q; want 1 group of %d, %d examples, duplicates.jsonl", d.Groups, d.Files, len(d.Examples), d.List, n, api.MaxExamples)
	}
	if j.Summary.BadFiles != n || j.Summary.BadFilesList != "bad_files.jsonl" {
		t.Errorf("bad files %d in %q, want %d in bad_files.jsonl", j.Summary.BadFiles, j.Summary.BadFilesList, n)
	}
	// The run directory lists every one.
	for file, field := range map[string]string{"duplicates.jsonl": "id", "bad_files.jsonl": "path"} {
		got := readLines(t, filepath.Join(j.RunDir, file), field)
		if len(got) != n {
			t.Errorf("%s: %d lines, want %d", file, len(got), n)
		}
		for _, p := range got {
			if !want[p] {
				t.Errorf("%s lists %q", file, p)
				break
			}
		}
	}
	// Nothing the daemon keeps or answers grows with the data.
	const small = 64 << 10
	if _, err := s.Events(ctx, j.ID, 0, false, func(e api.JobEvent) error {
		if len(e.Data) > small {
			t.Errorf("event %d (%s) is %d bytes", e.Seq, e.Type, len(e.Data))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(s.dir, "logs", j.ID+".log")); err != nil || st.Size() > 1<<20 {
		t.Errorf("job log: %v, %d bytes", err, st.Size())
	}
	for _, path := range []string{"/v1/jobs", "/v1/jobs/" + j.ID} {
		if code, b := get(t, s.Base+path); code != 200 || len(b) > small {
			t.Errorf("GET %s: %d, %d bytes", path, code, len(b))
		}
	}
}

// readLines reads one string field of every JSON line of a file.
func readLines(t *testing.T, path, field string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		v, _ := m[field].(string)
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue 22, defect 6: GET /v1/jobs answers pages (limit, after, order)
// of jobs without their summaries, GET /v1/models pages of versions with
// at most 20 classes each; the Go client reads every page.
func TestListPages(t *testing.T) {
	f := newFixture(t, 5)
	wide := wideFolder(t, 21)
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, wide)})
	ctx := context.Background()
	var ids []string // in submission order: oldest first
	for i, model := range []string{"m", "m", "m", "n", "wide"} {
		req := f.spec(1)
		req.Model = model
		if i == 4 {
			req.Data = wide
		}
		j, err := s.Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		if j := waitFinal(t, s.Client, id); j.State != api.Succeeded || j.Summary == nil {
			t.Fatalf("job %s: %s %q", id, j.State, j.Error)
		}
	}
	page := func(query string) api.JobList {
		t.Helper()
		code, body := get(t, s.Base+"/v1/jobs?"+query)
		var l api.JobList
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
			t.Fatalf("?%s: %d %s", query, code, body)
		}
		for _, j := range l.Jobs {
			if j.Summary != nil {
				t.Errorf("?%s: job %s listed with its summary", query, j.ID)
			}
		}
		return l
	}
	for _, c := range []struct {
		query string
		want  []string
		next  string
	}{
		{"limit=2", ids[0:2], ids[1]},
		{"limit=2&after=" + ids[1], ids[2:4], ids[3]},
		{"limit=2&after=" + ids[3], ids[4:5], ""},
		{"limit=2&order=newest", []string{ids[4], ids[3]}, ids[3]},
		{"limit=2&order=newest&after=" + ids[3], []string{ids[2], ids[1]}, ids[1]},
		{"limit=2&order=newest&after=" + ids[1], ids[0:1], ""},
		{"", ids, ""},
		{"state=failed", nil, ""},
	} {
		l := page(c.query)
		var got []string
		for _, j := range l.Jobs {
			got = append(got, j.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || l.Next != c.next {
			t.Errorf("?%s: %v next %q, want %v next %q", c.query, got, l.Next, c.want, c.next)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "order=sideways"} {
		if code, body := get(t, s.Base+"/v1/jobs?"+q); code != 400 {
			t.Errorf("?%s: %d %s, want 400", q, code, body)
		}
	}
	all, err := s.Jobs(ctx)
	if err != nil || len(all) != len(ids) || all[0].ID != ids[0] || all[4].ID != ids[4] {
		t.Errorf("client: %d jobs, %v", len(all), err)
	}
	models := func(query string) (got []string, next string) {
		t.Helper()
		code, body := get(t, s.Base+"/v1/models?"+query)
		var l api.ModelList
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
			t.Fatalf("?%s: %d %s", query, code, body)
		}
		for _, m := range l.Models {
			got = append(got, fmt.Sprintf("%s/%d:%d", m.Name, m.Version, len(m.Classes)))
			if m.Name == "wide" && m.ClassCount != 21 {
				t.Errorf("wide listed with class_count %d, want 21", m.ClassCount)
			}
		}
		return got, l.Next
	}
	for _, c := range []struct{ query, want, next string }{
		{"limit=2", "[m/1:10 m/2:10]", "m/2"},
		{"limit=2&after=m/2", "[m/3:10 n/1:10]", "n/1"},
		{"limit=2&after=n/1", "[wide/1:20]", ""},
	} {
		if got, next := models(c.query); fmt.Sprint(got) != c.want || next != c.next {
			t.Errorf("models ?%s: %v next %q, want %s next %q", c.query, got, next, c.want, c.next)
		}
	}
	if code, body := get(t, s.Base+"/v1/models?after=m/x"); code != 400 {
		t.Errorf("models after a cursor the daemon never gave: %d %s", code, body)
	}
	var m api.Model
	if code, body := get(t, s.Base+"/v1/models/wide"); code != 200 || json.Unmarshal([]byte(body), &m) != nil || len(m.Classes) != 21 || m.ClassCount != 0 {
		t.Errorf("GET /v1/models/wide: %d %s, want all 21 classes", code, body)
	}
	if ms, err := s.Models(ctx); err != nil || len(ms) != 5 {
		t.Errorf("client: %d models, %v", len(ms), err)
	}
}

// wideFolder is an image folder of n classes of 5 distinct digits each.
func wideFolder(t *testing.T, n int) string {
	t.Helper()
	src := testmodules.Digits(t, "train", 200, (n*5+9)/10)
	var files []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	dir := t.TempDir()
	for i := range n * 5 {
		class := filepath.Join(dir, fmt.Sprintf("c%02d", i%n))
		os.MkdirAll(class, 0o755)
		if err := os.Link(files[i], filepath.Join(class, filepath.Base(files[i]))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
