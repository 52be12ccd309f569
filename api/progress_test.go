package api

import "testing"

// The one-cell progress says shards while a sharded extraction runs and
// epochs once training started.
func TestProgressPhase(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want string
	}{
		{Progress{}, "epoch 0/10"},
		{Progress{ShardsDone: 3, Shards: 8}, "shards 3/8"},
		{Progress{Shards: 8}, "shards 0/8"},
		{Progress{Epoch: 2, Epochs: 10, ShardsDone: 8, Shards: 8}, "epoch 2/10"},
	} {
		if got := c.p.Phase(10); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}
