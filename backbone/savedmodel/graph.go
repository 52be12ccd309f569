package savedmodel

import (
	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Graph is a flat dataflow graph ready to execute: every function call has
// been inlined, variables have been replaced by their restored values, and
// nodes that do not feed an output have been pruned.
//
// It is the one representation every backend consumes: the native engine
// runs it, the TensorFlow backend imports it as a GraphDef.
type Graph struct {
	// Nodes in topological order. Data inputs are "node" or "node:i";
	// control inputs ("^node") have been removed.
	Nodes []*framework.NodeDef
	// Consts holds the decoded value of every Const node, including the
	// Const nodes that replaced restored variables.
	Consts map[string]*tensor.Tensor
	// Variables maps each Const node that replaced a variable read to the
	// variable's node in the main graph (export turns them back into
	// variables).
	Variables map[string]string
	// Inputs are the Placeholder node names the caller feeds.
	Inputs []string
	// Outputs are the fetched tensors, as "node:i".
	Outputs []string
}
