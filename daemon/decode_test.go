package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/data/images/bomb"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// badFiles are the bad files a job's feature events list, by path.
func badFiles(t *testing.T, s *testServer, id string) map[string]string {
	t.Helper()
	bad := map[string]string{}
	_, err := s.Events(context.Background(), id, 0, false, func(e api.JobEvent) error {
		var ev api.Event
		if json.Unmarshal(e.Data, &ev) == nil && ev.Kind == api.EventFeatures && ev.Features != nil {
			for _, b := range ev.Features.Bad {
				bad[b.Path] = b.Reason
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// Issue 22, defect 1: images whose headers declare too many pixels are
// bad files everywhere the daemon reads data: in the workers (training
// and validation data) and in GET /v1/jobs/ID/evaluation, with the
// daemon's --max-image-pixels. The bombs: a 30000x30000 PNG and a
// 60000x60000 JPEG of a few hundred bytes (which crashed every worker),
// and a real 4000x4000 PNG: 16 M pixels, under the default limit but
// over this daemon's 10 M, so it is refused only if the daemon's limit
// reached the reader.
func TestImageBombsAreBadFiles(t *testing.T) {
	f := newFixture(t, 5)
	val := testmodules.Digits(t, "train", 100, 2)
	f.roots = append(f.roots, val)
	jpg, err := bomb.JPEG(60000, 60000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		writeFile(t, filepath.Join(f.data, "3", "bomb.png"), bomb.PNG(30000, 30000)): "30000x30000 is 900000000 pixels",
		writeFile(t, filepath.Join(f.data, "4", "bomb.jpg"), jpg):                    "60000x60000 is 3600000000 pixels",
		writeFile(t, filepath.Join(val, "5", "big.png"), pngBomb(t, 4000, 4000)):     "4000x4000 is 16000000 pixels",
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxImagePixels: 10_000_000})
	req := f.spec(1)
	req.Val = val
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Succeeded || len(j.Attempts) != 1 {
		t.Fatalf("job: %s after %d attempts, %q; want succeeded at once, the bombs skipped", j.State, len(j.Attempts), j.Error)
	}
	bad := badFiles(t, s, j.ID)
	for path, size := range want {
		if r := bad[path]; !strings.Contains(r, size) || !strings.Contains(r, "over the limit of 10000000 (--max-image-pixels)") {
			t.Errorf("bad file %s: %q; want it listed saying %s, over the daemon's limit", path, r, size)
		}
	}

	// The reproduction: a validation image replaced by a bomb
	// after training. The evaluation reads it again: a bad file, 200.
	shown, _ := filepath.Glob(filepath.Join(val, "7", "*.png"))
	writeFile(t, shown[0], bomb.PNG(30000, 30000))
	code, _, body := getHdr(t, s.Base+"/v1/jobs/"+j.ID+"/evaluation", nil)
	var ev daemon.Evaluation
	if code != 200 || json.Unmarshal([]byte(body), &ev) != nil || ev.BadFiles != 2 || ev.Samples != 21-2 {
		t.Errorf("evaluation: %d %s; want 200 with 2 bad files of 21 (20 digits and the big one)", code, body)
	}
	if code, _ := get(t, s.Base+"/healthz"); code != 200 {
		t.Errorf("healthz after the evaluation: %d", code)
	}
}

// Issue 22, defect 10: class folders "x\xff" and "x\xfe" would both
// become the class "x\ufffd" as text. The daemon refuses the submission
// (422 on data, naming the folder and saying to rename it) and graft
// train fails before training, saying the same.
func TestNonUTF8ClassFolderRefused(t *testing.T) {
	f := newFixture(t, 3)
	for from, to := range map[string]string{"3": "x\xff", "4": "x\xfe"} {
		if err := os.Rename(filepath.Join(f.data, from), filepath.Join(f.data, to)); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	_, err := s.Submit(context.Background(), f.spec(1))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 422 || len(e.Fields) != 1 || e.Fields[0].Field != "data" ||
		!strings.Contains(e.Fields[0].Message, `class "x\xfe"`) || !strings.Contains(e.Fields[0].Message, "rename it to valid UTF-8") {
		t.Errorf("submission: %v (%+v); want 422 on data naming class \"x\\xfe\" and saying to rename it", err, e)
	}
	out, err := exec.Command(graftBin, "train", "--backbone", backboneDir, "--tap", "conv2d_2", "--data", f.data,
		"--out", filepath.Join(t.TempDir(), "run"), "--epochs", "1", "--log-format", "console").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `class "x\xfe"`) || !strings.Contains(string(out), "rename it to valid UTF-8") {
		t.Errorf("graft train: %v\n%s\nwant it to fail naming class \"x\\xfe\" and saying to rename it", err, out)
	}
}

// Issue 22, defect 13: a class folder that is a link to a folder inside
// the allowed roots is a class like any other; one that leads out is
// refused at submission, without saying where it leads.
func TestClassFolderLinks(t *testing.T) {
	f := newFixture(t, 3)
	inside, outside := filepath.Join(f.data, ".seven"), filepath.Join(t.TempDir(), "seven")
	if err := os.Rename(filepath.Join(f.data, "7"), inside); err != nil {
		t.Fatal(err)
	}
	symlink(t, inside, filepath.Join(f.data, "7"))
	if err := os.Rename(filepath.Join(f.data, "8"), outside); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	symlink(t, outside, filepath.Join(f.data, "8"))
	_, err := s.Submit(context.Background(), f.spec(1))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 422 || len(e.Fields) != 1 || e.Fields[0].Field != "data" ||
		!strings.Contains(e.Fields[0].Message, filepath.Join(f.data, "8")+" is outside") || strings.Contains(err.Error(), outside) || strings.Contains(err.Error(), ".png") {
		t.Errorf("a class folder linked out: %v (%+v); want 422 on data, the folder outside, naming neither %s nor the files in it", err, e, outside)
	}
	if err := os.Remove(filepath.Join(f.data, "8")); err != nil {
		t.Fatal(err)
	}
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	// 9 classes of 3 images: 7 through its link, 8 gone.
	if j.State != api.Succeeded || j.Summary.TrainSamples+j.Summary.ValSamples != 27 {
		t.Errorf("job with class 7 linked inside the root: %s %q, %+v; want succeeded on 27 images", j.State, j.Error, j.Summary)
	}
}

// Issue 22, defect 13: validation files changed after training are bad
// files of GET /v1/jobs/ID/evaluation (200), not a failed evaluation
// (500): one swapped for a link out of the roots, one for a FIFO, one
// deleted, one replaced by a folder.
func TestEvaluationCountsSwappedFilesAsBad(t *testing.T) {
	f := newFixture(t, 3)
	val := testmodules.Digits(t, "train", 100, 2)
	f.roots = append(f.roots, val)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	req := f.spec(1)
	req.Val = val
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job: %s %q", j.State, j.Error)
	}
	files, _ := filepath.Glob(filepath.Join(val, "*", "*.png"))
	if len(files) != 20 {
		t.Fatalf("%d validation files, want 20", len(files))
	}
	outside := filepath.Join(t.TempDir(), "secret.png")
	if err := os.Rename(files[0], outside); err != nil { // a good image, outside the roots
		t.Fatal(err)
	}
	symlink(t, outside, files[0])
	os.Remove(files[1])
	if err := syscall.Mkfifo(files[1], 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(files[2])
	os.Remove(files[3])
	if err := os.Mkdir(files[3], 0o700); err != nil {
		t.Fatal(err)
	}
	code, _, body := getHdr(t, s.Base+"/v1/jobs/"+j.ID+"/evaluation", nil)
	var ev daemon.Evaluation
	if code != 200 || json.Unmarshal([]byte(body), &ev) != nil || ev.BadFiles != 4 || ev.Samples != 16 {
		t.Errorf("evaluation: %d %.300s; want 200, 16 samples scored and 4 bad files", code, body)
	}
}

// Issue 22, defect 13: a data path outside the roots gets the same answer
// whether or not something exists there, and wherever a link leads: the
// answers below, with the path given replaced by P, are all one, and
// none names what lies outside. The same for TFRecord patterns.
func TestOutsidePathsAnswerAlike(t *testing.T) {
	f := newFixture(t, 3)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "x.tfrecord"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(f.data, name)
		symlink(t, target, p)
		return p
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	answer := func(data string) string {
		req := f.spec(1)
		req.Data = data
		_, err := s.Submit(context.Background(), req)
		if err == nil {
			t.Fatalf("data %s was accepted", data)
		}
		if strings.Contains(err.Error(), outside) && !strings.HasPrefix(data, outside) {
			t.Errorf("data %s: the answer names the outside: %v", data, err)
		}
		return strings.ReplaceAll(err.Error(), data, "P")
	}
	for say, group := range map[string][]string{
		"outside": {outside, filepath.Join(outside, "missing"), link("to-dir", outside), link("to-missing", filepath.Join(outside, "missing")),
			filepath.Join(link("dir-link", outside), "x.tfrecord")},
		"pattern P is outside": {filepath.Join(outside, "*.tfrecord"), filepath.Join(outside, "none", "*.tfrecord"), filepath.Join(f.data, "dir-link", "*.tfrecord")},
		// "*" reaches dir-link, a folder outside: what it holds is not told.
		"matches no files": {filepath.Join(f.data, "*", "x.tfrecord"), filepath.Join(f.data, "*", "none.tfrecord")},
	} {
		want := answer(group[0])
		if !strings.Contains(want, say) {
			t.Errorf("%s: %s; want it refused saying %q", group[0], want, say)
		}
		for _, p := range group[1:] {
			if got := answer(p); got != want {
				t.Errorf("data %s:\n got %s\nwant %s", p, got, want)
			}
		}
	}
}
