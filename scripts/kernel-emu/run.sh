#!/usr/bin/env bash
# Runs head.cu's kernels on the CPU against a float64 reference (no GPU
# needed): checks their indexing and arithmetic, not their speed or the
# SASS. Needs g++ with C++20.
#
#   run.sh          every case
#   run.sh --tsan   a few small cases under ThreadSanitizer: one OS thread
#                   per CUDA thread, so a missing __syncthreads (a shared
#                   memory read racing a write) is reported as a data race
set -euo pipefail
cd "$(dirname "$0")"
out=${TMPDIR:-/tmp}/graft-kernel-emu
if [ "${1:-}" = --tsan ]; then
  g++ -std=c++20 -O1 -g -fsanitize=thread -pthread -Wall -Wno-unknown-pragmas -o "$out-tsan" main.cpp
  TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" "$out-tsan" small
  exit
fi
g++ -std=c++20 -O2 -pthread -Wall -Wno-unknown-pragmas -o "$out" main.cpp
"$out"
