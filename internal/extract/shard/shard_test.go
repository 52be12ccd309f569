package shard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestPlan(t *testing.T) {
	name := func(i int) string { return fmt.Sprintf("img%d", i) }
	for _, c := range []struct {
		n, size int
		want    []Task
	}{
		{0, 4, nil},
		{3, 4, []Task{{0, 0, 3, 0, "img0"}}},
		{8, 4, []Task{{0, 0, 4, 0, "img0"}, {1, 4, 8, 0, "img4"}}},
		{9, 4, []Task{{0, 0, 4, 0, "img0"}, {1, 4, 8, 0, "img4"}, {2, 8, 9, 0, "img8"}}},
	} {
		got, err := Plan(c.n, c.size, name)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Plan(%d, %d) = %v, %v; want %v", c.n, c.size, got, err, c.want)
		}
	}
	if _, err := Plan(5, 0, name); err == nil || !strings.Contains(err.Error(), "--shard-size") {
		t.Errorf("Plan with size 0: %v, want an error naming --shard-size", err)
	}
}

// A shard that fails twice succeeds on its third try; the others run once.
func TestRunRetriesOnlyTheFailedShard(t *testing.T) {
	tasks, _ := Plan(10, 2, func(i int) string { return "" })
	var mu sync.Mutex
	runs := map[int][]int{}
	res, err := Run(context.Background(), tasks, Options{Workers: 3, Attempts: 3}, func(_ context.Context, tk Task) (Result, error) {
		mu.Lock()
		runs[tk.Index] = append(runs[tk.Index], tk.Attempt)
		mu.Unlock()
		if tk.Index == 2 && tk.Attempt < 3 {
			return Result{}, errors.New("killed")
		}
		return Result{Computed: tk.Hi - tk.Lo}, nil
	})
	if err != nil || res.Computed != 10 {
		t.Fatalf("Run = %+v, %v; want 10 computed", res, err)
	}
	for i := range tasks {
		want := "[1]"
		if i == 2 {
			want = "[1 2 3]"
		}
		if got := fmt.Sprint(runs[i]); got != want {
			t.Errorf("shard %d ran attempts %s, want %s", i, got, want)
		}
	}
}

// A shard failing every attempt fails the run, named with its range and
// first file.
func TestRunFailsNamingTheShard(t *testing.T) {
	tasks, _ := Plan(6, 2, func(i int) string { return fmt.Sprintf("cats/%d.png", i) })
	var progress []Progress
	_, err := Run(context.Background(), tasks, Options{Workers: 2, Attempts: 2, Progress: func(p Progress) { progress = append(progress, p) }},
		func(ctx context.Context, tk Task) (Result, error) {
			if tk.Index == 1 {
				return Result{}, errors.New("decoder crashed")
			}
			return Result{}, nil
		})
	var se *Error
	if !errors.As(err, &se) || se.Task.Index != 1 || se.Attempts != 2 {
		t.Fatalf("Run error = %v, want shard 1 after 2 attempts", err)
	}
	for _, want := range []string{"shard 1", "samples 2-3", "cats/2.png", "decoder crashed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(progress) == 0 || progress[0].Total != 3 {
		t.Errorf("progress = %v, want reports of 3 shards", progress)
	}
}

func TestRunCancelled(t *testing.T) {
	tasks, _ := Plan(4, 1, func(i int) string { return "" })
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Run(ctx, tasks, Options{Workers: 1}, func(ctx context.Context, tk Task) (Result, error) {
		cancel()
		return Result{}, ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
}
