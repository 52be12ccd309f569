package savedmodel

import (
	"fmt"

	"github.com/graft-ml/graft/backbone/tensor"
)

// bindVariables finds each variable's checkpoint key by tracing the restore
// graph, which looks the same in TF1 and TF2 once calls are inlined:
//
//	TF1: save/Assign = Assign(a, save/RestoreV2:k)
//	TF2: C/AssignVariableOp = AssignVariableOp(<arg bound to VarHandleOp>, C/Identity)
//	     C/Identity = Identity(C/RestoreV2:k)
//
// where the RestoreV2 node's tensor_names input is a Const of keys. Keys
// of sliced (partitioned) variables are not supported.
func (m *Model) bindVariables() error {
	for _, n := range m.flat.order {
		if n.def.Op != "Assign" && n.def.Op != "AssignVariableOp" {
			continue
		}
		if len(n.def.Input) < 2 {
			continue
		}
		vn, _, err := m.flat.resolve(n.def.Input[0])
		if err != nil {
			continue // broken parts of a graph that nothing may need
		}
		if vn, _, err = m.flat.through(vn, 0); err != nil {
			continue
		}
		v, ok := m.vars[vn.def.Name]
		if !ok {
			continue
		}
		src, k, err := m.flat.resolve(n.def.Input[1])
		if err != nil {
			continue
		}
		if src, k, err = m.flat.through(src, k); err != nil || src.def.Op != "RestoreV2" {
			continue // an initializer, not a restore
		}
		key, err := m.restoreKey(src, k)
		if err != nil {
			return fmt.Errorf("restore of variable %s (%s): %w", v.Node, src.def.Name, err)
		}
		if v.Key != "" && v.Key != key {
			return fmt.Errorf("%w: variable %s is restored from both %q and %q", ErrGraph, v.Node, v.Key, key)
		}
		v.Key = key
	}
	return nil
}

// restoreKey reads the k-th checkpoint key of a RestoreV2 node from its
// constant tensor_names and shape_and_slices inputs.
func (m *Model) restoreKey(r *flatNode, k int) (string, error) {
	if len(r.def.Input) < 3 {
		return "", fmt.Errorf("%w: RestoreV2 with %d inputs", ErrGraph, len(r.def.Input))
	}
	names, err := m.constInput(r.def.Input[1])
	if err != nil {
		return "", fmt.Errorf("tensor_names: %w", err)
	}
	slices, err := m.constInput(r.def.Input[2])
	if err != nil {
		return "", fmt.Errorf("shape_and_slices: %w", err)
	}
	if names.DType != tensor.String || k >= len(names.S) {
		return "", fmt.Errorf("%w: RestoreV2 output %d has no tensor name", ErrGraph, k)
	}
	if slices.DType == tensor.String && k < len(slices.S) && len(slices.S[k]) > 0 {
		return "", fmt.Errorf("%w: partitioned variable (slice %q of %q)", ErrUnsupported, slices.S[k], names.S[k])
	}
	return string(names.S[k]), nil
}

// constInput decodes the Const a raw ref leads to (through identities).
func (m *Model) constInput(ref string) (*tensor.Tensor, error) {
	n, i, err := m.flat.resolve(ref)
	if err != nil {
		return nil, err
	}
	if n, _, err = m.flat.through(n, i); err != nil {
		return nil, err
	}
	if n.def.Op != "Const" {
		return nil, fmt.Errorf("%w: %s is a %s, not a Const", ErrUnsupported, n.def.Name, n.def.Op)
	}
	return constValue(n.def.Name, n.def.Attr)
}
