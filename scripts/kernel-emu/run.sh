#!/usr/bin/env bash
# Runs head.cu's kernels on the CPU against a float64 reference (no GPU
# needed): checks their indexing and arithmetic, not their speed or their
# behaviour under the GPU's memory model. Needs g++ with C++20.
set -euo pipefail
cd "$(dirname "$0")"
out=${TMPDIR:-/tmp}/graft-kernel-emu
g++ -std=c++20 -O2 -pthread -Wall -Wno-unknown-pragmas -o "$out" main.cpp
"$out"
