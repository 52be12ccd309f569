package raylaunch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// NodeIDLabel is the label Ray gives every node: its id.
const NodeIDLabel = "ray.io/node-id"

// Probe checks that every live node of the cluster sees dir (the daemon's
// data directory: run directories, feature cache, specs) at the same
// path and can run the worker binaries: it writes a file with a random
// token into dir, runs a Ray job pinned to each node that reads it back,
// checks the binaries and writes the token into a file of its own, and
// reads that file here. The jobs reserve nothing, so a cluster busy with
// graft's jobs still answers. It returns the nodes it checked.
func Probe(ctx context.Context, c *Client, dir string, bins ...string) ([]Node, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var alive []Node
	for _, n := range nodes {
		if n.State == "ALIVE" {
			alive = append(alive, n)
		}
	}
	if len(alive) == 0 {
		return nil, fmt.Errorf("ray: the cluster at %s has no live node", c.Base)
	}
	pdir := filepath.Join(dir, "ray", "probe")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	probe := filepath.Join(pdir, token)
	if err := os.WriteFile(probe, []byte(token), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(probe)
	ids := map[string]Node{}
	for _, n := range alive {
		ack := probe + "." + n.ID
		defer os.Remove(ack)
		checks := []string{fmt.Sprintf(`test "$(cat %s)" = %s || { echo "graft-probe: cannot read %s" >&2; exit 3; }`, shellQuote(probe), token, probe)}
		for _, b := range bins {
			if b != "" {
				checks = append(checks, fmt.Sprintf(`test -x %s || { echo "graft-probe: no executable %s" >&2; exit 4; }`, shellQuote(b), b))
			}
		}
		checks = append(checks, fmt.Sprintf("printf %%s %s > %s", token, shellQuote(ack)))
		id := fmt.Sprintf("graft-probe-%s-%s", token[:8], n.ID[:12])
		_, err := c.Submit(ctx, Submission{Entrypoint: strings.Join(checks, " && "), SubmissionID: id,
			LabelSelector: map[string]string{NodeIDLabel: n.ID}})
		if err != nil {
			return nil, err
		}
		ids[id] = n
	}
	var bad []string
	for id, n := range ids {
		info, err := waitEnd(ctx, c, id)
		name := n.Name
		if name == "" {
			name = n.ID
		}
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("node %s (%s): %v", name, n.IP, err))
		case info.Status != Succeeded:
			bad = append(bad, fmt.Sprintf("node %s (%s): %s", name, n.IP, lastLines(info.Message, 1)))
		default:
			got, err := os.ReadFile(probe + "." + n.ID)
			if err != nil || string(got) != token {
				bad = append(bad, fmt.Sprintf("node %s (%s): its probe ran but its answer does not reach this host (%v)", name, n.IP, err))
			}
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("ray: the data directory %s must be shared storage, mounted at the same path on the daemon's host and every Ray node, with the graft binaries installed at the same paths (docs/scale-out.md); the probe failed on %s", dir, strings.Join(bad, "; "))
	}
	return alive, nil
}

// waitEnd waits until a job ends (or ctx does).
func waitEnd(ctx context.Context, c *Client, id string) (*JobInfo, error) {
	for {
		info, err := c.Job(ctx, id)
		if err == nil && Terminal(info.Status) {
			return info, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no answer: %w (its job %s is still %s)", ctx.Err(), id, status(info))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func status(info *JobInfo) string {
	if info == nil {
		return "unknown"
	}
	return info.Status
}
