package cli

import (
	"encoding/json"
	"io"
)

// PrintJSON writes v to w as indented JSON, the --json output of every
// command.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
