#!/usr/bin/env bash
# Runs head.cu's kernels on the CPU against a float64 reference (no GPU
# needed): checks their indexing and arithmetic, not their speed or the
# SASS. Needs g++ with C++20.
#
#   run.sh          every case
#   run.sh --tsan   a few small cases under ThreadSanitizer: one OS thread
#                   per CUDA thread, so a missing __syncthreads (a shared
#                   memory read racing a write) is reported as a data race
#   run.sh --ubsan  every case under UndefinedBehaviorSanitizer
#                   (signed overflow, shifts, misaligned or null accesses):
#                   the first report fails the run
#
# HEAD_CU=path runs another copy of head.cu (mutants.sh).
set -euo pipefail
cd "$(dirname "$0")"
out=${TMPDIR:-/tmp}/graft-kernel-emu
defs=()
if [ -n "${HEAD_CU:-}" ]; then defs+=("-DHEAD_CU=\"$HEAD_CU\""); fi
case "${1:-}" in
  --tsan)
    g++ -std=c++20 -O1 -g -fsanitize=thread -pthread -Wall -Wno-unknown-pragmas "${defs[@]}" -o "$out-tsan" main.cpp
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" "$out-tsan" small
    exit ;;
  --ubsan)
    g++ -std=c++20 -O1 -g -fsanitize=undefined -fno-sanitize-recover=all -pthread -Wall -Wno-unknown-pragmas "${defs[@]}" \
      -o "$out-ubsan" main.cpp
    UBSAN_OPTIONS="print_stacktrace=1 ${UBSAN_OPTIONS:-}" "$out-ubsan"
    exit ;;
esac
g++ -std=c++20 -O2 -pthread -Wall -Wno-unknown-pragmas "${defs[@]}" -o "$out" main.cpp
"$out"
