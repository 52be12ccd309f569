package logging

import (
	"bytes"
	"testing"
)

// A log line written under a bar clears the bar's line and the bar comes
// back under it; once a stage's line has replaced the bar, log lines are
// written as they are.
func TestScreenLogUnderBar(t *testing.T) {
	var b bytes.Buffer
	s := ScreenOf(&b)
	s.Bar("train features [==  ] 2/4")
	s.Write([]byte("WARN bad image file\n"))
	s.Line("train features: 4 samples")
	s.Write([]byte("INFO epoch\n"))
	want := "\r\033[Ktrain features [==  ] 2/4" + "\r\033[KWARN bad image file\n" + "\r\033[Ktrain features [==  ] 2/4" +
		"\r\033[Ktrain features: 4 samples\n" + "INFO epoch\n"
	if b.String() != want {
		t.Errorf("screen %q\nwant   %q", b.String(), want)
	}
	if ScreenOf(&b) != s {
		t.Error("two screens for one writer")
	}
}
