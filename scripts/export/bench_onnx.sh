#!/bin/sh
# make bench-export: graft's ONNX export against tf2onnx (scripts/export/bench_onnx.py).
set -eu
: "${PYTHON:?the exportenv python}" "${GRAFT:?the graft binary}"
ZOO=${GRAFT_ZOO:-build/zoo}
[ -d "$ZOO" ] || { echo "bench-export: $ZOO is missing: run make zoo (or set GRAFT_ZOO)" >&2; exit 1; }
exec "$PYTHON" scripts/export/bench_onnx.py --graft "$GRAFT" --zoo "$ZOO" "$@"
