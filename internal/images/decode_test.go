package images

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/internal/images/bomb"
)

func jpegBomb(t *testing.T, w, h uint16) []byte {
	b, err := bomb.JPEG(w, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 22, defect 1: images whose headers declare more pixels than the
// limit are refused from the header, with the size, the limit and the
// flag in the message, without the memory their pixels would take.
func TestTooLargeFromHeader(t *testing.T) {
	for _, c := range []struct {
		name  string
		b     []byte
		limit int64
		want  string
	}{
		{"png 30000x30000", bomb.PNG(30000, 30000), 0, "30000x30000 is 900000000 pixels, over the limit of 40000000 (--max-image-pixels)"},
		{"jpeg 60000x60000", jpegBomb(t, 60000, 60000), 0, "60000x60000 is 3600000000 pixels, over the limit of 40000000 (--max-image-pixels)"},
		{"png over a lower limit", bomb.PNG(2000, 2000), 1_000_000, "2000x2000 is 4000000 pixels, over the limit of 1000000"},
		{"png 40000000x1", bomb.PNG(40_000_000, 1), 0, "a side over 65535 pixels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.b) > 64<<10 {
				t.Fatalf("the test's image is %d bytes, want a small file", len(c.b))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := FromBytes(c.b, 224, 224, 3, Unit, c.limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "resize") {
				t.Errorf("error %v; want ErrTooLarge saying %q and to resize", err, c.want)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
				t.Errorf("refusing it allocated %d bytes", d)
			}
		})
	}
	// Within the limit the same path decodes (a real, complete image).
	if _, err := FromBytes(bomb.PNG(300, 1), 4, 4, 1, Raw, 300); err != nil {
		t.Errorf("a 300x1 image with a limit of 300 pixels: %v", err)
	}
}

// The decode budget serves in order, and lets an image larger than the
// whole budget through alone.
func TestDecodeBudget(t *testing.T) {
	b := &budget{size: 10}
	give1 := b.take(6)
	got := make(chan int, 3)
	go func() { g := b.take(6); got <- 2; g() }()
	waitWaiting(t, b, 1)
	go func() { g := b.take(100); got <- 3; g() }() // over the size: alone
	waitWaiting(t, b, 2)
	give1()
	if first, second := <-got, <-got; first != 2 || second != 3 {
		t.Errorf("served %d then %d; want 2 then 3", first, second)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 0 || len(b.waiting) != 0 {
		t.Errorf("after everything: %d used, %d waiting", b.used, len(b.waiting))
	}
}

func waitWaiting(t *testing.T, b *budget, n int) {
	t.Helper()
	for range 10000 {
		b.mu.Lock()
		k := len(b.waiting)
		b.mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never %d waiting", n)
}
