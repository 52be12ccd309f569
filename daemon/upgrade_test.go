package daemon_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/internal/base/buildinfo"
)

// epochsOf lists the epochs job id's log reports, by attempt.
func epochsOf(t *testing.T, c *client.Client, id string) map[int][]int {
	t.Helper()
	by := map[int][]int{}
	_, err := c.Events(context.Background(), id, 0, false, func(e api.JobEvent) error {
		if e.Type != "epoch" {
			return nil
		}
		var d struct {
			Epoch int `json:"epoch"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		by[e.Attempt] = append(by[e.Attempt], d.Epoch)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return by
}

// An upgrade in place: graft serve of one build stopped with SIGTERM
// while a job runs and three wait, and a build stamped with another
// version started on the same data directory. The running job resumes
// from its last epoch checkpoint (its epochs go on where they stopped and
// its weights equal an uninterrupted run's), the queued ones then run in
// the order they were submitted, and each attempt names the build that
// ran it.
func TestUpgradeInPlace(t *testing.T) {
	f := newFixture(t, 5)
	bins := t.TempDir()
	oldBin, newBin := filepath.Join(bins, "graft-old"), filepath.Join(bins, "graft-new")
	for bin, version := range map[string]string{oldBin: "test-old", newBin: "test-new"} {
		if err := buildinfo.BuildGraft("..", bin, version); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	c := client.New(addr, "")
	ctx := context.Background()
	serve := func(bin string, extra ...string) *daemonProc {
		args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--log-format", "json", "--max-concurrent-jobs", "1", "--grace", "5s"}
		for _, r := range f.roots {
			args = append(args, "--allow-root", r)
		}
		return startDaemonCmd(t, addr, dataDir, exec.Command(bin, append(args, extra...)...))
	}

	d := serve(oldBin, "--worker-step-delay", "60ms")
	reqA := f.spec(8)
	a, err := c.Submit(ctx, reqA)
	if err != nil {
		t.Fatal(err)
	}
	var queued []string
	for range 3 {
		j, err := c.Submit(ctx, f.spec(1))
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, j.ID)
	}
	j := waitFor(t, c, a.ID, 30*time.Second, "past epoch 2", func(j *api.Job) bool { return j.Progress.Epoch >= 3 && lastPID(j) > 0 })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Fatalf("the old graft serve after SIGTERM: %v", err)
	}
	gone(t, lastPID(j))

	serve(newBin)
	a = waitFinal(t, c, a.ID)
	if a.State != api.Succeeded {
		t.Fatalf("%s: %s %s", a.ID, a.State, a.Error)
	}
	if len(a.Attempts) != 2 || a.Attempts[0].Exit != api.ExitInterrupted || a.Attempts[0].Graft != "test-old" ||
		!a.Attempts[1].Resumed || a.Attempts[1].Exit != api.ExitSucceeded || a.Attempts[1].Graft != "test-new" {
		t.Errorf("attempts of %s: %+v", a.ID, a.Attempts)
	}
	// Resumed, not started again: the new attempt's epochs follow the old
	// one's last, and the weights are an uninterrupted run's.
	ep := epochsOf(t, c, a.ID)
	if old, resumed := ep[1], ep[2]; len(old) == 0 || len(resumed) == 0 || resumed[0] != old[len(old)-1]+1 || resumed[len(resumed)-1] != 8 {
		t.Errorf("epochs by attempt: %v; want attempt 2 to start after attempt 1's last and end at 8", ep)
	}
	sameWeights(t, a.RunDir, reqA)

	// The queue kept its order: each job started after the one submitted
	// before it, all under the new build.
	prev := a.Attempts[1].Start
	for _, id := range queued {
		j := waitFinal(t, c, id)
		if j.State != api.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Graft != "test-new" {
			t.Fatalf("%s: %s %s, attempts %+v", id, j.State, j.Error, j.Attempts)
		}
		if !j.Attempts[0].Start.After(prev) {
			t.Errorf("%s started at %v, before the job submitted ahead of it (%v)", id, j.Attempts[0].Start, prev)
		}
		prev = j.Attempts[0].Start
	}
}
