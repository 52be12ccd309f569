package logging

import (
	"io"
	"sync"
)

// Screen is a terminal that progress bars and log lines share. A bar is
// drawn over the current line, without a newline; a log line written
// while one is shown clears the bar's line first, so that the line does
// not run on from the bar's text, and the bar is drawn again under it.
type Screen struct {
	mu  sync.Mutex
	w   io.Writer
	bar string // the bar on the current line, "" when none
}

var screens sync.Map // io.Writer -> *Screen

// ScreenOf is the one Screen of w, for the logger and the bars alike.
func ScreenOf(w io.Writer) *Screen {
	s, _ := screens.LoadOrStore(w, &Screen{w: w})
	return s.(*Screen)
}

// clear is the terminal's carriage return and erase to the end of line.
const clear = "\r\033[K"

// Write writes whole log lines (the logger's).
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bar == "" {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, clear); err != nil {
		return 0, err
	}
	n, err := s.w.Write(p)
	if err == nil {
		_, err = io.WriteString(s.w, s.bar)
	}
	return n, err
}

// Sync is zapcore.WriteSyncer's; a terminal holds nothing back.
func (s *Screen) Sync() error { return nil }

// Bar draws text as the bar, over the current line.
func (s *Screen) Bar(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bar = clear + text
	io.WriteString(s.w, s.bar)
}

// Line ends the bar, if any, with text as a line of its own in its place.
func (s *Screen) Line(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bar = ""
	io.WriteString(s.w, clear+text+"\n")
}

// End ends the bar's line, if a bar is shown, leaving the bar as it was:
// what follows (an error) starts a line of its own.
func (s *Screen) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bar != "" {
		s.bar = ""
		io.WriteString(s.w, "\n")
	}
}
