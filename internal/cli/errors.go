package cli

import (
	"strings"

	"github.com/graft-ml/graft/internal/base/hint"
)

// ErrorText is how a command's error reaches a person: the error, then
// each piece of advice the packages attached to it (hint.With) on a line
// of its own.
func ErrorText(prog string, err error) string {
	var b strings.Builder
	b.WriteString(prog + ": " + err.Error() + "\n")
	for _, h := range hint.All(err) {
		b.WriteString("  hint: " + h + "\n")
	}
	return b.String()
}
