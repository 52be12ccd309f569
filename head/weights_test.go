package head

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/util/safetensors"
)

// SaveWeights writes the parameters only: no optimizer tensor, a third of
// an Adam checkpoint's size, and the loaded head scores as the trained one.
func TestSaveWeightsHoldsTheHeadOnly(t *testing.T) {
	t.Parallel()
	ops := NewCPUOps()
	opt, err := NewOptimizer(Adam)
	must(t, err)
	p := newPlanted(t, ops, KindConv)
	m, err := New(ops, p.spec, opt, 7)
	must(t, err)
	defer m.Close()
	trainEpochs(t, m, p, 2)
	dir := t.TempDir()
	full, weights := filepath.Join(dir, "last.safetensors"), filepath.Join(dir, "head.safetensors")
	must(t, m.Save(full, nil, []byte(`{"epoch":2}`)))
	must(t, m.SaveWeights(weights, []string{"a", "b", "c", "d"}))

	raw, err := os.ReadFile(weights)
	must(t, err)
	f, err := safetensors.Read(raw)
	must(t, err)
	params := 0
	for name, tn := range f.Tensors {
		if strings.HasPrefix(name, "optimizer/") {
			t.Errorf("inference file holds optimizer tensor %s", name)
		}
		params += len(tn.Data)
	}
	if params != m.layout.Total {
		t.Errorf("%d floats, the head has %d", params, m.layout.Total)
	}
	fi, _ := os.Stat(full)
	if ratio := float64(len(raw)) / float64(fi.Size()); ratio > 0.4 {
		t.Errorf("inference file is %.2f of the Adam checkpoint, want about a third", ratio)
	}

	loaded, ck, err := Load(ops, weights)
	must(t, err)
	defer loaded.Close()
	if !ck.WeightsOnly || ck.Classes[3] != "d" {
		t.Errorf("metadata %+v", ck)
	}
	want, _ := m.Params()
	got, _ := loaded.Params()
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("parameter %d: %v, saved %v", i, got[i], want[i])
		}
	}
	if a, b := accuracy(t, m, p.test, p.testLabel), accuracy(t, loaded, p.test, p.testLabel); a != b {
		t.Errorf("accuracy %v after loading, %v before", b, a)
	}
}
