package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/graft-ml/graft/api"
)

// withModel sets the model field of a raw job spec.
func withModel(spec []byte, model string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(spec, &m); err != nil {
		return nil, fmt.Errorf("jobs submit: the spec is not a JSON object: %w", err)
	}
	b, _ := json.Marshal(model)
	m["model"] = b
	return json.Marshal(m)
}

// absPaths makes the paths of a raw job spec (backbone, data, val, each
// part of a TFRecord comma list) absolute against base, the spec file's
// folder (as a relative path in a file is read anywhere else), since the
// daemon runs elsewhere and refuses relative paths. It returns what it
// resolved, "key: rel -> abs" each.
func absPaths(spec []byte, base string) ([]byte, []string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(spec, &m); err != nil {
		return nil, nil, fmt.Errorf("jobs submit: the spec is not a JSON object: %w", err)
	}
	var resolved []string
	for _, k := range []string{"backbone", "data", "val"} {
		var p string
		if raw, ok := m[k]; !ok || json.Unmarshal(raw, &p) != nil || p == "" {
			continue // absent, or not a string: the daemon says what is wrong
		}
		parts := strings.Split(p, ",")
		for i, part := range parts {
			part = strings.TrimSpace(part)
			parts[i] = part
			if part == "" || filepath.IsAbs(part) {
				continue
			}
			parts[i] = filepath.Join(base, part)
			resolved = append(resolved, fmt.Sprintf("%s: %s -> %s", k, part, parts[i]))
		}
		m[k], _ = json.Marshal(strings.Join(parts, ","))
	}
	b, err := json.Marshal(m)
	return b, resolved, err
}

// printEvent writes one event as a JSON line.
func (a *app) printEvent(e api.JobEvent) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.out, string(b))
	return err
}
