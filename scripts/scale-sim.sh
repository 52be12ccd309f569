#!/bin/sh
# scale-sim: the pipeline at scale on synthetic data (docs/scale-out.md,
# "Sharded extraction and scale"). First the sample index (listing,
# hashing, split, duplicates; bytes per sample) at SCALE_INDEX sizes,
# then graft train on SCALE_N synthetic images with fashion_cnn, features
# streamed under --memory-budget 1GiB, extracted by SCALE_WORKERS worker
# processes, under /usr/bin/time for the peak RSS. Everything it writes
# is under SCALE_DIR (default build/scale-sim), removed first.
set -eu
GO=${GO:-go}
SCALE_INDEX=${SCALE_INDEX:-10000,100000}
SCALE_N=${SCALE_N:-10000}
SCALE_WORKERS=${SCALE_WORKERS:-2}
SCALE_DIR=${SCALE_DIR:-build/scale-sim}
rm -rf "$SCALE_DIR"
mkdir -p "$SCALE_DIR"
GRAFT_SCALE_SIM=$SCALE_INDEX $GO test -count=1 -v -timeout 30m -run TestScaleIndex ./internal/data/dataset | grep -E 'n=|FAIL|ok'
$GO build -o "$SCALE_DIR/graft" ./cmd/graft
run() { # name, extra flags
	name=$1; shift
	/usr/bin/time -f "$name: peak RSS %M KiB, wall %e s" "$SCALE_DIR/graft" train --log-format json \
		--backbone testdata/models/fashion_cnn --tap conv2d_2 --preprocess unit --head linear --epochs 1 \
		--data "synthetic:$SCALE_N" --memory-budget 1073741824 --cache-dir "$SCALE_DIR/cache" --cache-max-bytes 0 \
		--out "$SCALE_DIR/$name" "$@" 2>"$SCALE_DIR/$name.log" >/dev/null || { tail -5 "$SCALE_DIR/$name.log"; exit 1; }
	tail -1 "$SCALE_DIR/$name.log"
	grep -E '"msg":"(sharded extraction|shards done|features extracted|features all from the cache: backbone skipped)"' "$SCALE_DIR/$name.log" | cut -c1-240
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("summary: hits", s["feature_cache_hits"], "computed", s["features_computed"], "timing", json.dumps(s["timing"]))' "$SCALE_DIR/$name/summary.json"
}
run sharded --extract-workers "$SCALE_WORKERS" --shard-size 4096
run again --extract-workers "$SCALE_WORKERS" --shard-size 4096
du -sh "$SCALE_DIR/cache"
