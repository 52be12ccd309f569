package featcache

import "os"

// Has reports whether the sample's entry is present, without reading or
// checking it and without counting a lookup: what sharded extraction asks
// of thousands of entries to skip the shards already done. A damaged
// entry counts as present here; Get finds it out and it is recomputed.
func (n *Namespace) Has(sample [32]byte) bool {
	_, err := os.Stat(n.path(sample))
	return err == nil
}
