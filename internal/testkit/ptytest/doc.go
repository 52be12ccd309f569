// Package ptytest opens real pseudo-terminals for tests of what graft
// shows a person at a terminal (Linux only; tests skip elsewhere).
package ptytest
