package main

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// cell is s as one cell of a text table: as it is when every character
// shows as itself, else quoted with Go's escapes (strconv.Quote), so that
// a name with a newline, a CR, a tab or a bidirectional override (a
// class name is whatever a folder is called) cannot break or reorder the
// table. A name that starts with a quote is quoted too, so that a quoted
// cell is never ambiguous. JSON output has its own escaping.
func cell(s string) string {
	plain := utf8.ValidString(s) && !strings.HasPrefix(s, `"`) &&
		strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) < 0
	if plain {
		return s
	}
	return strconv.Quote(s)
}
