package daemon_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
)

// untar reads a whole tar archive into its regular files' contents; an
// archive cut short is an error.
func untar(b []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, err
		}
		if h.Typeflag == tar.TypeReg {
			if files[h.Name], err = io.ReadAll(tr); err != nil {
				return files, err
			}
		}
	}
}

// smallWindowClient receives through a 4 KiB socket buffer, so the
// daemon's writes block as soon as the client stops reading.
func smallWindowClient() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableCompression: true}}
}

// startExport posts :export and returns the open answer.
func startExport(t *testing.T, c *http.Client, s *testServer, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Base+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// keptFile is a file of the export the daemon keeps in its data directory.
func keptFile(t *testing.T, s *testServer, name, rel string) string {
	t.Helper()
	return filepath.Join(s.dir, "exports", name, "1", filepath.FromSlash(rel))
}

const dataFile = "variables/variables.data-00000-of-00001"

// trainWide trains the model "wide", whose head makes a ~7 MB export:
// more than the loopback's socket buffers take (about 3 MB), so the
// daemon is still sending it while a slow client reads.
func trainWide(t *testing.T, s *testServer, f fixture) {
	t.Helper()
	req := f.spec(1)
	req.Model, req.Head = "wide", "conv:3072"
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s: %s %s", j.ID, j.State, j.Error)
	}
}

// A reader slower than --write-timeout still gets the whole archive: a
// download has an idle deadline, not a total one.
func TestExportSlowReaderGetsWholeTar(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, WriteTimeout: time.Second})
	trainWide(t, s, f)
	resp := startExport(t, smallWindowClient(), s, "/v1/models/wide:export")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	// 64 KiB every 40 ms: about 4 s in all, and no pause near 1 s.
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got.Write(buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
		time.Sleep(40 * time.Millisecond)
	}
	files, err := untar(got.Bytes())
	if err != nil {
		t.Fatalf("archive of %d bytes: %v", got.Len(), err)
	}
	for _, rel := range []string{"saved_model.pb", dataFile, "variables/variables.index"} {
		want, err := os.ReadFile(keptFile(t, s, "wide", rel))
		if err != nil || !bytes.Equal(files["wide/1/"+rel], want) {
			t.Errorf("%s: %d bytes in the archive, %d in the data directory (%v)", rel, len(files["wide/1/"+rel]), len(want), err)
		}
	}
}

// A file that shrinks while it is being sent ends the download as a
// broken transfer, never as a complete-looking archive.
func TestExportCutStreamIsAnError(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainWide(t, s, f)
	if resp, body := exportReq(t, s, "/v1/models/wide:export"); resp.StatusCode != 200 {
		t.Fatalf("export: %d %.300s", resp.StatusCode, body)
	}
	data := keptFile(t, s, "wide", dataFile)
	st, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon blocks once the socket buffers are full, long before
	// the end of the ~7 MB data file; then the file loses its second half.
	resp := startExport(t, smallWindowClient(), s, "/v1/models/wide:export")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	head := make([]byte, 1024)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(data, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		_, terr := untar(append(head, rest...))
		t.Fatalf("the download ended cleanly after %d bytes (archive: %v); want a broken transfer", len(head)+len(rest), terr)
	}

	// The Go client, cut the same way (the daemon first builds the
	// damaged export again), reports the break and leaves no file.
	c := client.New(s.Base, "")
	c.HTTP = &http.Client{Transport: &onFirstByte{rt: smallWindowClient().Transport, fn: func() {
		if err := os.Truncate(data, st.Size()/2); err != nil {
			t.Error(err)
		}
	}}}
	dest := filepath.Join(t.TempDir(), "wide.tar")
	if err := c.Export(context.Background(), "wide", 0, dest, false); err == nil {
		t.Error("client.Export of a broken download: no error")
	}
	if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 0 {
		t.Errorf("a broken download left %s", left[0].Name())
	}
}

// onFirstByte calls fn once the answer's first bytes have arrived.
type onFirstByte struct {
	rt   http.RoundTripper
	fn   func()
	once sync.Once
}

func (o *onFirstByte) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.rt.RoundTrip(req)
	if err == nil {
		resp.Body = &firstByteBody{ReadCloser: resp.Body, o: o}
	}
	return resp, err
}

type firstByteBody struct {
	io.ReadCloser
	o *onFirstByte
}

func (b *firstByteBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.o.once.Do(b.o.fn)
	}
	return n, err
}

// The clients (graft models export, client.Export) write a whole archive
// and replace an existing file only when asked.
func TestExportClientsReplaceOnlyWhenAsked(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainModel(t, s, f, "digits")
	_, want := exportReq(t, s, "/v1/models/digits:export")
	dir := t.TempDir()
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(graftBin, append([]string{"models", "export", "digits", "--server", s.Base}, args...)...).CombinedOutput()
		return string(out), err
	}
	check := func(what, path string, want []byte) {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %s holds %d bytes, want %d (%v)", what, path, len(got), len(want), err)
		}
	}
	kept := []byte("keep me")
	for _, tool := range []string{"graft models export", "client.Export"} {
		dest := filepath.Join(dir, strings.ReplaceAll(tool, " ", "-")+".tar")
		export := func(force bool) error {
			if tool == "client.Export" {
				return s.Export(context.Background(), "digits", 0, dest, force)
			}
			args := []string{"--out", dest}
			if force {
				args = append(args, "--force")
			}
			out, err := cli(args...)
			if err != nil && !strings.Contains(out, "--force") {
				t.Errorf("%s: %v, and the message does not say --force: %s", tool, err, out)
			}
			return err
		}
		if err := export(false); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		check(tool, dest, want)
		os.WriteFile(dest, kept, 0o644)
		if err := export(false); err == nil {
			t.Errorf("%s over an existing file: no error", tool)
		}
		check(tool+" over an existing file", dest, kept)
		if err := export(true); err != nil {
			t.Errorf("%s, forced: %v", tool, err)
		}
		check(tool+", forced", dest, want)
	}
	if left, _ := os.ReadDir(dir); len(left) != 2 {
		t.Errorf("%d files beside the archives, want none", len(left)-2)
	}
}

// A damaged export in the data directory (cut short, or a byte changed)
// is not sent as it is: the daemon builds it again.
func TestDamagedExportIsRebuilt(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainModel(t, s, f, "digits")
	resp, first := exportReq(t, s, "/v1/models/digits:export")
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, first)
	}
	good, err := untar(first)
	if err != nil {
		t.Fatal(err)
	}
	data := keptFile(t, s, "digits", dataFile)
	damage := map[string]func() error{
		"cut short": func() error {
			st, err := os.Stat(data)
			if err != nil {
				return err
			}
			return os.Truncate(data, st.Size()/2)
		},
		"a byte changed": func() error {
			b, err := os.ReadFile(data)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0xff
			return os.WriteFile(data, b, 0o644)
		},
	}
	for what, fn := range damage {
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		resp, again := exportReq(t, s, "/v1/models/digits:export")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: export: %d %s", what, resp.StatusCode, again)
		}
		files, err := untar(again)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if k := "digits/1/" + dataFile; !bytes.Equal(files[k], good[k]) {
			t.Errorf("%s: the archive's %s has %d bytes, unlike the export's first %d", what, dataFile, len(files[k]), len(good[k]))
		}
	}
}

// Below --min-free-disk an export is refused with 507, saying what is
// free, and leaves nothing behind.
func TestExportBelowMinFreeDisk(t *testing.T) {
	f := newFixture(t, 5)
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, daemon.Options{AllowRoots: f.roots, DataDir: dir})
	trainModel(t, s, f, "digits")
	s.stop()
	// A floor above any real disk's free space.
	s = startServer(t, daemon.Options{AllowRoots: f.roots, DataDir: dir, MinFreeDisk: 1 << 62})
	resp, body := exportReq(t, s, "/v1/models/digits:export")
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(body), "bytes free") || !strings.Contains(string(body), "--min-free-disk") {
		t.Errorf("export below the floor: %d %s, want 507 saying what is free", resp.StatusCode, body)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "exports")); len(left) != 0 {
		t.Errorf("exports/ holds %d entries after a refused export", len(left))
	}
}

// metric reads one sample of /metrics.
func metric(t *testing.T, s *testServer, name string) string {
	t.Helper()
	_, _, body := getHdr(t, s.Base+"/metrics", nil)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return "(absent)"
}

// Concurrent exports of one version wait for one build and all get it.
func TestConcurrentExportsBuildOnce(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	trainModel(t, s, f, "digits")
	const n = 4
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b := exportReq(t, s, "/v1/models/digits:export")
			codes[i], bodies[i] = resp.StatusCode, b
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 200 || !bytes.Equal(bodies[i], bodies[0]) {
			t.Errorf("export %d: %d, %d bytes (first %d)", i, codes[i], len(bodies[i]), len(bodies[0]))
		}
	}
	if got := metric(t, s, "graft_export_builds_total"); got != "1" {
		t.Errorf("graft_export_builds_total %s after %d exports of one version, want 1", got, n)
	}
}

// An ended job's evaluation cannot change: the second call is answered
// without the data or the backbone (here the data is gone).
func TestEvaluationCached(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	j := trainModel(t, s, f, "digits")
	url := s.Base + "/v1/jobs/" + j.ID + "/evaluation"
	code, _, first := getHdr(t, url, nil)
	if code != 200 {
		t.Fatalf("evaluation: %d %s", code, first)
	}
	if err := os.RemoveAll(f.data); err != nil {
		t.Fatal(err)
	}
	code, _, second := getHdr(t, url, nil)
	var a, b daemon.Evaluation
	if code != 200 || json.Unmarshal([]byte(first), &a) != nil || json.Unmarshal([]byte(second), &b) != nil || a.Samples == 0 || first != second {
		t.Errorf("second evaluation, data removed: %d %s; first %s", code, second, first)
	}
}

// Evaluations and export builds have slots of
// their own: beyond them the answer is 503 with Retry-After, and
// predictions go on meanwhile.
func TestEvaluationAndExportSlots(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxConcurrentEvaluations: 1, MaxConcurrentExports: 1, MaxConcurrentPredicts: 1})
	a := trainModel(t, s, f, "a")
	b := trainModel(t, s, f, "b")
	held, release := make(chan string, 2), make(chan struct{})
	defer daemon.SetSlotHook(func(kind string) {
		held <- kind
		<-release
	})()
	// One evaluation and one export build take the only slots and stay.
	first := make(chan int, 2)
	go func() {
		code, _, _ := getHdr(t, s.Base+"/v1/jobs/"+a.ID+"/evaluation", nil)
		first <- code
	}()
	<-held
	go func() {
		resp, _ := exportReq(t, s, "/v1/models/a:export")
		first <- resp.StatusCode
	}()
	<-held
	code, h, body := getHdr(t, s.Base+"/v1/jobs/"+b.ID+"/evaluation", nil)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "--max-concurrent-evaluations") {
		t.Errorf("evaluation beyond the slots: %d (Retry-After %q) %s", code, h.Get("Retry-After"), body)
	}
	resp, rb := exportReq(t, s, "/v1/models/b:export")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(rb), "--max-concurrent-exports") {
		t.Errorf("export beyond the slots: %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), rb)
	}
	for i := range 3 {
		if _, err := s.Predict(context.Background(), "a", 0, api.PredictRequest{Instances: digitImages(t, f, 1)}); err != nil {
			t.Errorf("predict %d while the slots are held: %v", i, err)
		}
	}
	close(release)
	for range 2 {
		if code := <-first; code != 200 {
			t.Errorf("the held call ended with %d", code)
		}
	}
}
