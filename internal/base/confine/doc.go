// Package confine is graft's one rule for files it opens on behalf of
// someone else (the daemon's requests and jobs): a path must be absolute,
// free of NUL bytes, and lie inside one of the allowed roots once every
// symlink is followed; a file is opened through an os.Root of that root,
// so a link swapped in after the check cannot lead out of it; and only
// regular files are read (never a FIFO, which would block, or a device,
// which never ends), with a size cap where the format has none. What it
// says of a path outside the roots is that it is outside, nothing more:
// not whether it exists, not where a link leads; Glob matches only inside.
//
// A nil or empty *Roots confines nothing (the CLI reads what its user
// names) but still opens regular files only. The daemon, its workers,
// data sets (folders, CSV entries, TFRecord lists), SavedModel loading and
// run directories all go through this package.
package confine
