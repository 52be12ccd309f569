package worker

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// Issue 11, defect 17: over-long worker lines are skipped and the pipe
// read on, so the lines after them arrive and the worker never blocks.
func TestLineReaderSkipsLongLines(t *testing.T) {
	// Lines longer than the reader's 64 KiB buffer, and one just over.
	long := strings.Repeat("x", 300_000)
	in := "a\n" + long + "\nb\r\n" + strings.Repeat("y", 100_001) + "\n" + strings.Repeat("z", 100_000) + "\ntail"
	lr := newEvents(strings.NewReader(in), 100_000)
	var got []string
	skipped := 0
	for {
		l, s, err := lr.Next()
		skipped += s
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l[:min(len(l), 3)]))
	}
	if strings.Join(got, "|") != "a|b|zzz|tai" || skipped != 300_001+100_002 {
		t.Errorf("lines %q, skipped %d; want a|b|zzz|tai, %d", got, skipped, 300_001+100_002)
	}
}
