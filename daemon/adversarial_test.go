package daemon_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/internal/data/images/bomb"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/crc32c"
)

// adversary is a real `graft serve` (a subprocess, so that its peak RSS is
// the kernel's figure) with a token, and the findings of the attacks on it.
type adversary struct {
	t       *testing.T
	addr    string
	dataDir string
	token   string
	fix     fixture
	extra   []string
	d       *daemonProc
	c       *client.Client
	peak    int64 // the highest VmHWM of the daemons run so far
	rows    []string
}

// vmHWM is a process's peak resident set (bytes), from /proc.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (a *adversary) start() {
	a.d = startDaemon(a.t, a.addr, a.dataDir, a.fix, append([]string{"--token-file", filepath.Join(filepath.Dir(a.dataDir), "token")}, a.extra...)...)
	a.c = client.New(a.addr, a.token)
}

// alive checks the daemon still runs and records its peak memory so far.
func (a *adversary) alive(what string) {
	a.t.Helper()
	select {
	case err := <-a.d.done:
		a.d.done <- err
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(a.dataDir), "serve.log"))
		a.t.Fatalf("%s: graft serve died: %v\n%s", what, err, tail(log, 4000))
	default:
	}
	if p := vmHWM(a.d.cmd.Process.Pid); p > a.peak {
		a.peak = p
	}
	resp, err := http.Get("http://" + a.addr + "/healthz")
	if err != nil {
		a.t.Fatalf("%s: /healthz: %v", what, err)
	}
	resp.Body.Close()
}

// train submits req, waits for its end and checks the daemon is up and
// the job succeeded.
func (a *adversary) train(req api.JobRequest, what string) *api.Job {
	a.t.Helper()
	j, err := a.c.Submit(context.Background(), req)
	if err != nil {
		a.t.Fatal(err)
	}
	j = waitFinal(a.t, a.c, j.ID)
	a.alive(what)
	if j.State != api.Succeeded {
		a.t.Fatalf("%s: %s (%s), want succeeded", what, j.State, j.Error)
	}
	return j
}

// row records one attack's answers for the report.
func (a *adversary) row(attack, answers string) {
	a.rows = append(a.rows, fmt.Sprintf("| %s | %s | %d MiB |", attack, answers, a.peak>>20))
	a.t.Logf("%s: %s (daemon peak RSS so far %d MiB)", attack, answers, a.peak>>20)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// do sends a request with the token and returns the status and body.
func (a *adversary) do(method, path string, body []byte) (int, []byte) {
	req, _ := http.NewRequest(method, "http://"+a.addr+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// bombs are the image bombs of every format graft reads, by file name.
func bombs(t *testing.T) map[string][]byte {
	must := func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"bomb-30000x30000.png": pngBomb(t, 30000, 30000), // 875 KB, all of its data
		"bomb-60000x60000.jpg": must(bomb.JPEG(60000, 60000)),
		"bomb-65535x65535.jpg": must(bomb.JPEG(65535, 65535)),
	}
}

// lyingTFRecord is a 16-byte file whose one record header says 1 GiB,
// with the length's checksum right, so only the length lies.
func lyingTFRecord() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, 1<<30)
	binary.LittleEndian.PutUint32(b[8:], crc32c.Mask(crc32c.Checksum(b[:8])))
	return b
}

// TestAdversarial is `make test-adversarial` (GRAFT_ADVERSARIAL=1): a real
// graft serve with a token under the attacks of issue 22, each bounded in
// count and time: image bombs of every format in training data,
// validation data, evaluation, export and predict; lying TFRecords; token
// lockout attempts; a slowloris; oversized listings; kill -9 during
// export. Every answer must be the documented one, the daemon must
// survive, and its peak RSS (VmHWM) must stay under 1 GiB. The figures go
// to the test log and, with GRAFT_ADVERSARIAL_REPORT, to a Markdown table.
func TestAdversarial(t *testing.T) {
	if os.Getenv("GRAFT_ADVERSARIAL") == "" {
		t.Skip("the adversarial suite runs with GRAFT_ADVERSARIAL=1 (make test-adversarial)")
	}
	// The daemon runs as in a 1 GiB container: --memory-limit 768 MiB,
	// the rest for what is not Go heap. Without it the heap may grow to
	// twice what is live (the eight 36 M pixel decodes at once): 626-839
	// MiB measured.
	const maxRSS, memoryLimit = 1 << 30, 768 << 20
	f := newFixture(t, 8)
	work := t.TempDir()
	train0 := filepath.Join(work, "train")
	testmodules.CopyTree(t, f.data, train0)
	bs := bombs(t)
	for name, b := range bs {
		if err := os.WriteFile(filepath.Join(train0, "3", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := &adversary{t: t, addr: freeAddr(t), dataDir: filepath.Join(work, "data"), token: "adversarial-token-0123456789abcdef",
		fix: fixture{data: train0, roots: append(f.roots, work)}, extra: []string{"--log-level", "error", "--memory-limit", strconv.Itoa(memoryLimit)}}
	if err := os.WriteFile(filepath.Join(work, "token"), []byte(a.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()

	// Bombs in the training data (and so in its validation split): the job
	// succeeds with them as bad files, each reason naming the limit.
	req := a.fix.spec(2)
	req.Model = "adv"
	req.OnBadFile = api.SkipBadFiles
	j := a.train(req, "a job with image bombs in its data (the bombs bad files)")
	reasons := badReasons(t, a.c, j.ID)
	for name := range bs {
		r, ok := reasons[filepath.Join(train0, "3", name)]
		if !ok || !strings.Contains(r, "max-image-pixels") {
			t.Errorf("bad file %s: reason %q, want one that names --max-image-pixels", name, r)
		}
	}
	a.row("image bombs (PNG 30000², JPEG 60000², JPEG 65535²) in training data, `on_bad_file: skip`", fmt.Sprintf("job %s, %d bad files", j.State, j.Summary.BadFiles))

	// Bombs copied over validation images after training, then 16
	// evaluations, 8 at once.
	run, err := predict.LoadRun(j.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	val, err := run.Split(rundir.SplitVal)
	run.Close()
	if err != nil || len(val.Samples) < 3 {
		t.Fatalf("validation split: %d samples, %v", len(val.Samples), err)
	}
	i := 0
	for _, b := range bs {
		if err := os.WriteFile(val.Samples[i].ID, b, 0o644); err != nil {
			t.Fatal(err)
		}
		i++
	}
	answers := hammer(16, 8, func() int {
		code, body := a.do("GET", "/v1/jobs/"+j.ID+"/evaluation", nil)
		if code == 200 {
			var ev struct {
				BadFiles int `json:"bad_files"`
			}
			if json.Unmarshal(body, &ev) != nil || ev.BadFiles < len(bs) {
				t.Errorf("evaluation with %d bombs in its validation split: %s", len(bs), body)
			}
		}
		return code
	})
	a.alive("bombs in validation data")
	answers.check(t, "evaluation with bombs", 200, 503)
	a.row("the same bombs over validation images, 16 evaluations (8 at once)", answers.String())

	// Export after the swap (its checks read the run's images), 6 at once.
	var tarSize sync.Map
	answers = hammer(6, 6, func() int {
		code, body := a.do("POST", "/v1/models/adv:export", []byte("{}"))
		if code == 200 {
			tarSize.Store(len(body), true)
			if err := readTar(body); err != nil {
				t.Errorf("export: a 200 whose tar is broken: %v", err)
			}
		}
		return code
	})
	a.alive("export with bombs")
	answers.check(t, "export", 200, 503)
	a.row("export of that model, 6 at once", answers.String())

	// Predict with each bomb.
	var pc codes
	for name, b := range bs {
		body, _ := json.Marshal(api.PredictRequest{Instances: []api.Image{{B64: base64.StdEncoding.EncodeToString(b)}}})
		code, msg := a.do("POST", "/v1/models/adv:predict", body)
		pc.add(code)
		if code != 413 {
			t.Errorf("predict %s: %d %s, want 413", name, code, msg)
		}
	}
	a.alive("predict with bombs")
	a.row("predict with each bomb", pc.String())

	// Images just within --max-image-pixels (6000x6000, 36 M pixels: a
	// gray PNG, a colour JPEG) sent 16 times, 8 at once: the decode budgets
	// (--predict-memory, the process's decode memory) hold the memory.
	var photo bytes.Buffer // a 6000x6000 colour JPEG, 4:2:0 (Go's encoder)
	if err := jpeg.Encode(&photo, image.NewRGBA(image.Rect(0, 0, 6000, 6000)), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	for _, big := range []struct {
		what string
		b    []byte
	}{{"PNG", pngBomb(t, 6000, 6000)}, {"JPEG", photo.Bytes()}} {
		large, _ := json.Marshal(api.PredictRequest{Instances: []api.Image{{B64: base64.StdEncoding.EncodeToString(big.b)}}})
		answers = hammer(16, 8, func() int {
			code, _ := a.do("POST", "/v1/models/adv:predict", large)
			return code
		})
		a.alive("large predicts")
		answers.check(t, "predict of a 36 M pixel "+big.what, 200, 503)
		a.row(fmt.Sprintf("predict of a 6000x6000 %s (%d KB, just within the pixel limit), 16 times, 8 at once", big.what, len(big.b)>>10), answers.String())
	}

	// Lying TFRecords: 24 submissions, 8 at once.
	tfr := filepath.Join(work, "lying.tfrecord")
	if err := os.WriteFile(tfr, lyingTFRecord(), 0o644); err != nil {
		t.Fatal(err)
	}
	lying := a.fix.spec(1)
	lying.Data = tfr
	spec, _ := json.Marshal(lying)
	answers = hammer(24, 8, func() int {
		code, body := a.do("POST", "/v1/jobs", spec)
		if code == 422 && !strings.Contains(string(body), `"data"`) {
			t.Errorf("a lying TFRecord: 422 that does not name data: %s", body)
		}
		return code
	})
	a.alive("lying TFRecords")
	answers.check(t, "lying TFRecord", 422, 503) // 503: beyond --max-concurrent-submissions
	a.row("a 16-byte TFRecord whose record says 1 GiB, 24 submissions (8 at once)", answers.String())

	// Lockout: 30 requests without a token or with a wrong one, then the
	// right token at once.
	var lc codes
	for i := range 30 {
		req, _ := http.NewRequest("GET", "http://"+a.addr+"/metrics", nil)
		if i%2 == 1 {
			req.Header.Set("Authorization", "Bearer wrong-"+strconv.Itoa(i))
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			lc.add(resp.StatusCode)
			resp.Body.Close()
		}
	}
	code, _ := a.do("GET", "/metrics", nil)
	if code != 200 {
		t.Errorf("the right token after 30 failures from the same address: %d, want 200", code)
	}
	a.row("30 requests without or with a wrong token, then the right one", fmt.Sprintf("failures: %s; right token: %d", lc.String(), code))

	// Slowloris: 300 connections dribbling headers; meanwhile fresh
	// clients' /healthz and authenticated requests.
	slow := slowloris(t, a.addr, 300, 6*time.Second)
	var sc codes
	for range 8 {
		time.Sleep(500 * time.Millisecond)
		if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + a.addr + "/healthz"); err == nil {
			sc.add(resp.StatusCode)
			resp.Body.Close()
		} else {
			sc.add(0)
		}
		code, _ := a.do("GET", "/v1/models", nil)
		sc.add(code)
	}
	slow()
	a.alive("slowloris")
	sc.check(t, "requests during a slowloris", 200)
	a.row("300 slow connections dribbling headers; 8 /healthz and 8 authenticated requests meanwhile", sc.String())

	// Oversized listings: 45,000 byte-identical empty files beside the
	// digits.
	big := filepath.Join(work, "big")
	testmodules.CopyTree(t, f.data, big)
	for i := range 45000 {
		if err := os.WriteFile(filepath.Join(big, strconv.Itoa(i%10), fmt.Sprintf("empty-%05d.png", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bigReq := a.fix.spec(1)
	bigReq.Data = big
	bigReq.OnBadFile = api.SkipBadFiles
	bj := a.train(bigReq, "a job over 45,000 empty files beside the digits")
	_, list := a.do("GET", "/v1/jobs", nil)
	_, one := a.do("GET", "/v1/jobs/"+bj.ID, nil)
	if len(list) > 256<<10 || len(one) > 256<<10 {
		t.Errorf("after a job over 45,000 files: GET /v1/jobs is %d bytes, the job %d bytes: want summaries (under 256 KiB)", len(list), len(one))
	}
	a.row("a job over 45,000 byte-identical empty files beside the digits", fmt.Sprintf("job %s; GET /v1/jobs %d bytes, the job %d bytes", bj.State, len(list), len(one)))

	// kill -9 during an export of a new version, then a restart: no
	// leftovers, and the export is served whole.
	req2 := a.fix.spec(1)
	req2.Model = "adv"
	a.train(req2, "the model's second version")
	go a.do("POST", "/v1/models/adv:export", []byte("{}"))
	time.Sleep(150 * time.Millisecond)
	a.alive("before kill -9")
	a.d.cmd.Process.Signal(syscall.SIGKILL)
	a.d.wait(t, 10*time.Second)
	a.start()
	left := tmpLeftovers(t, a.dataDir)
	if len(left) > 0 {
		t.Errorf("after kill -9 during an export and a restart, temporary files remain: %v", left)
	}
	code, body := a.do("POST", "/v1/models/adv:export", []byte("{}"))
	if code != 200 || readTar(body) != nil {
		t.Errorf("export after kill -9 and a restart: %d, tar %v", code, readTar(body))
	}
	a.alive("after kill -9")
	a.row("kill -9 during an export, restart, export again", fmt.Sprintf("%d temporary leftovers; export %d", len(left), code))

	t.Logf("daemon peak RSS over the suite: %d MiB (bound %d MiB)", a.peak>>20, maxRSS>>20)
	if a.peak > maxRSS {
		t.Errorf("the daemon's peak RSS was %d MiB, over the %d MiB bound", a.peak>>20, maxRSS>>20)
	}
	if out := os.Getenv("GRAFT_ADVERSARIAL_REPORT"); out != "" {
		report := "| attack | answers | daemon peak RSS so far |\n|---|---|---|\n" + strings.Join(a.rows, "\n") + "\n"
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// hammer runs fn n times, at most par at once, and counts its statuses.
func hammer(n, par int, fn func() int) *codes {
	var c codes
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.add(fn())
		}()
	}
	wg.Wait()
	return &c
}

// String lists the counts by status, lowest first.
func (c *codes) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for code := range 600 {
		if n := c.n[code]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d×%d", n, code))
		}
	}
	return strings.Join(parts, ", ")
}

// badReasons collects a job's reported bad files from its events.
func badReasons(t *testing.T, c *client.Client, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_, err := c.Events(context.Background(), id, 0, false, func(e api.JobEvent) error {
		var ev api.Event
		if json.Unmarshal(e.Data, &ev) == nil && ev.Features != nil {
			for _, b := range ev.Features.Bad {
				out[b.Path] = b.Reason
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readTar reads an archive to its end.
func readTar(b []byte) error {
	tr := tar.NewReader(bytes.NewReader(b))
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("empty archive")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		n++
	}
}

// slowloris opens n connections that send a request line and then one
// header byte every second, and returns a function that closes them.
func slowloris(t *testing.T, addr string, n int, d time.Duration) func() {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	var wg sync.WaitGroup
	for range n {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue // the daemon may refuse some: that is its right
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			w := bufio.NewWriter(conn)
			fmt.Fprintf(w, "GET /v1/jobs HTTP/1.1\r\nHost: %s\r\n", addr)
			w.Flush()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if _, err := conn.Write([]byte("X")); err != nil {
						return
					}
				}
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// tmpLeftovers lists what looks like a temporary file under the data
// directory's exports and runs.
func tmpLeftovers(t *testing.T, dataDir string) []string {
	var out []string
	filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
