package export

import (
	"github.com/graft-ml/graft/backbone/savedmodel"
)

// Exported tells whether the SavedModel in dir is a graft export (its
// signature sig has the probabilities and classes outputs) and returns its
// class names, so that `graft predict --model` ranks the probabilities
// with their names.
func Exported(dir string, tags []string, sig string) (classes []string, ok bool) {
	m, err := savedmodel.Load(dir, tags...)
	if err != nil {
		return nil, false
	}
	s, err := m.Signature(sig)
	if err != nil {
		return nil, false
	}
	outs := map[string]bool{}
	for _, o := range s.Outputs {
		outs[o.Key] = true
	}
	if len(s.Outputs) != 2 || !outs[OutProbs] || !outs[OutClasses] {
		return nil, false
	}
	for _, f := range m.MetaGraph().GetGraphDef().GetLibrary().GetFunction() {
		for _, n := range f.GetNodeDef() {
			if n.Name != classNamesNode || n.Op != "Const" {
				continue
			}
			t, err := savedmodel.TensorFromProto(n.Attr["value"].GetTensor())
			if err != nil || t.DType != tensorString {
				return nil, true
			}
			for _, b := range t.S {
				classes = append(classes, string(b))
			}
			return classes, true
		}
	}
	return nil, true
}
