// Package featcache stores backbone features on disk so that a sample goes
// through the frozen backbone once, ever: entries are keyed by the
// backbone's content digest, the tap, the preprocessing and input size
// (the namespace) and the sample's encoded bytes (the entry). A second run
// on the same data reads features instead of running the backbone.
//
// Entries are written atomically (temporary file, rename) and checksummed;
// a damaged entry is treated as missing and removed. Nothing is fsynced: a
// cache entry lost in a crash is recomputed, never trusted half-written.
//
// The cache has a cap in bytes (Open's maxBytes: the entry files' sizes,
// every namespace together). Recency is an entry's mtime, set when it is
// written and renewed when a lookup hits it (at most once a minute; atime
// is not trusted, many mounts do not keep it). A Put that takes the cache
// over its cap evicts the least recently used entries down to 90% of it
// (so that a full cache is not walked on every Put), skipping the leased
// namespaces: a job holds a Lease on its namespace while it reads or
// writes it, refreshed while the process lives, so entries it streams
// from are never evicted under it. A lease is a file under .leases/ naming
// the host, the process and an expiry (two minutes ahead, refreshed every
// 30 s): one whose process is gone (same host) or whose expiry passed is
// ignored, so a crashed worker holds nothing for long. Leased namespaces
// may hold the cache over its cap until they are released; the release
// trims it.
//
// Every process that uses a directory (a daemon's workers, its
// evaluations, graft train, graft cache, another daemon) keeps one set of
// counts in .usage (bytes, entries, hits, misses, evictions), updated
// under an flock on .lock; a missing or unreadable .usage is recounted
// from the files. A reader that loses an entry to eviction sees a miss and
// computes it again.
//
// Layout under the root:
//
//	NS/key.json        what made namespace NS's features (Key, floats each)
//	NS/XX/DIGEST.f32   one sample's features
//	.usage, .lock      the shared counts and their lock
//	.leases/*.json     leases on namespaces
//	**/.tmp-*          a file being written (removed at a daemon's start,
//	                   and by any trim once an hour old)
package featcache
