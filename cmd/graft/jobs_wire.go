package main

import (
	"encoding/json"
	"fmt"

	"github.com/graft-ml/graft/daemon/api"
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

// printEvent writes one event as a JSON line.
func (a *app) printEvent(e api.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.out, string(b))
	return err
}
