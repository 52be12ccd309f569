#!/usr/bin/env bash
# gpu-check: everything about graft's CUDA path that needs a GPU, in one
# command, on any NVIDIA host, from binaries built elsewhere (make
# graft-cuda gpu-test-bin on the build machine, or graft-cuda-tf for the
# TensorFlow join; copy bin/ and scripts/: docs/cuda.md says how with a
# lent GPU and the device tool's carry list). Needs the NVIDIA driver;
# compute-sanitizer (CUDA toolkit), PyTorch and TensorFlow's CUDA build
# are used when present: nothing is downloaded. Every step has a hard time
# budget (seconds, scaled by BUDGET_SCALE; their sum is 9.5 minutes, a
# normal run far less), and the whole run a deadline (DEADLINE, 540 s)
# that cuts the last steps short so that the table is always written
# before a 600-second limit. Writes $REPORT (reports/gpu-check.txt) and
# ends with one table: each step, PASS/FAIL/TIMEOUT/SKIP/NOT RUN, its time
# and budget.
# Exits non-zero when a check fails or times out, or none could run.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
REPORT=${REPORT:-reports/gpu-check.txt}
SCALE=${BUDGET_SCALE:-1}
DEADLINE=${DEADLINE:-540}
mkdir -p "$(dirname "$REPORT")"
: > "$REPORT"
status=0
declare -a rows

log() { echo "$*" | tee -a "$REPORT"; }
section() { log ""; log "=== $*"; }
row() { rows+=("$(printf '%-56s %-8s %6s %6s  %s' "$1" "$2" "$3" "$4" "${5:-}")"); }
# run NAME BUDGET CMD...: runs a check under a hard time limit (BUDGET
# seconds x BUDGET_SCALE), appends its output, records its row.
run() {
  local name=$1 budget; budget=$(awk -v b="$2" -v s="$SCALE" 'BEGIN { printf "%d", b * s }'); shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 10 ]; then notrun "$name" "the run's deadline ($DEADLINE s) came first"; status=1; return 1; fi
  budget=$((budget < left ? budget : left))
  section "$name (budget ${budget} s): $*"
  local start=$SECONDS out
  out=$(mktemp)
  timeout -k 10 "$budget" "$@" 2>&1 | tee -a "$REPORT" "$out"
  local rc=${PIPESTATUS[0]} took=$((SECONDS - start))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then row "$name" TIMEOUT "$took" "$budget" "over its budget: raise BUDGET_SCALE or look above"; status=1
  elif [ "$rc" != 0 ]; then row "$name" FAIL "$took" "$budget" "exit $rc"; status=1
  # Go tests that all skipped (a tensor-core mode on a GPU before 8.0) did not check anything.
  elif grep -q -- '--- SKIP' "$out" && ! grep -q -- '--- PASS' "$out"; then row "$name" SKIP "$took" "$budget" "every test skipped: see above"
  else row "$name" PASS "$took" "$budget"; fi
  rm -f "$out"
  return "$rc"
}
# notrun NAME WHY: a check that could not run here.
notrun() { section "$1"; log "NOT RUN: $2"; row "$1" "NOT RUN" - - "$2"; }
table() {
  section "summary"
  log "$(printf '%-56s %-8s %6s %6s  %s' step result s budget note)"
  for r in "${rows[@]}"; do log "$r"; done
  log "report: $REPORT"
}

log "graft gpu-check, $(date -u +%FT%TZ), host $(hostname)"
for f in "$BIN/graft-cuda" "$BIN/gpu.test"; do
  if [ ! -x "$f" ]; then
    log "missing $f: build it on a machine with the CUDA toolkit (make graft-cuda gpu-test-bin) and copy bin/ here"
    exit 2
  fi
done
"$BIN/graft-cuda" version | tee -a "$REPORT"
if command -v nvidia-smi >/dev/null; then
  section "nvidia-smi"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 | tee -a "$REPORT"
fi
if ! run "devices" 20 "$BIN/graft-cuda" devices; then
  log ""
  log "NO USABLE GPU: nothing below ran; the CUDA path is UNVERIFIED on this host."
  table
  exit 1
fi

# 1. The GPU tests, per precision mode. fp32: every op against the CPU
#    reference and float64 at 1e-4, the update rules, a 3-epoch run against
#    the CPU, out-of-memory errors, bad input, a NaN stopping a step as on
#    the CPU (in all three precisions). tf32 and bf16: the
#    tensor-core GEMMs against float64 within gpu.ErrorBound (docs/cuda.md)
#    and a 3-epoch run that must learn what the CPU's learns. A mode the GPU
#    lacks (tensor cores before compute capability 8.0) shows as skipped.
run "tests fp32" 60 "$BIN/gpu.test" -test.v -test.count=1 \
  -test.run 'TestDevices|TestOpsMatchCPU|TestUpdateMatchesCPU|TestTrainingMatchesCPU/fp32|TestOutOfMemory|TestBadInput|TestNaNStopsTheStepLikeTheCPU'
for mode in tf32 bf16; do
  run "tests $mode" 40 "$BIN/gpu.test" -test.v -test.count=1 -test.run "TestTensorCoreGEMMsWithinBound/$mode|TestTrainingMatchesCPU/$mode"
done

# 2. compute-sanitizer (four tools) over small cases of every mode and a
#    short training run (the reference shape is left to the plain test
#    runs: the sanitizers are slow).
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$SAN" ]; then
  # -test.run splits on '/' (outside parentheses) into levels: the second
  # level selects the small op cases and every mode of the training test
  # (fp32, tf32, bf16), and keeps every subtest of the update test; the
  # tensor-core GEMMs' small cases run separately.
  small='TestTrainingMatchesCPU|TestUpdateMatchesCPU|TestOpsMatchCPU/(odd|batch_1$|kernel_1|linear|conv|adam|sgd|fp32|tf32|bf16)'
  smalltc='TestTensorCoreGEMMsWithinBound/(tf32|bf16)/(16_channels|kernel_5)'
  # memcheck: out-of-bounds and misaligned accesses; racecheck: shared
  # memory races (the cp.async pipeline's stages included); synccheck:
  # barriers not reached by every thread of a block; initcheck: reads of
  # device memory never written.
  for tool in memcheck racecheck synccheck initcheck; do
    run "compute-sanitizer $tool (tests)" 30 "$SAN" --tool "$tool" --error-exitcode 9 "$BIN/gpu.test" -test.run "$small" -test.count=1
    run "compute-sanitizer $tool (tensor-core tests)" 20 "$SAN" --tool "$tool" --error-exitcode 9 "$BIN/gpu.test" -test.run "$smalltc" -test.count=1
  done
  run "compute-sanitizer memcheck (bench head tf32, batch 4)" 20 "$SAN" --tool memcheck --error-exitcode 9 \
    "$BIN/graft-cuda" bench head --precision tf32 --batch 4 --channels 256 --filters 64 --min-time 1ms
else
  notrun "compute-sanitizer" "not found (install the CUDA toolkit): memcheck, racecheck, synccheck and initcheck unverified"
fi

# 3. Benchmarks: the Go benchmark (every mode) and graft-cuda bench head,
#    batch 32 and 256, per mode.
run "benchmark" 30 "$BIN/gpu.test" -test.run '^$' -test.bench BenchmarkTrainStep -test.benchtime 1s
for mode in tf32 bf16 fp32; do
  run "bench head $mode" 20 "$BIN/graft-cuda" bench head --precision "$mode" --batch 32,256 --min-time 1s
done

# 4. PyTorch on the same head, same shapes, same init, Adam, in the same
#    three modes, in this same run; it prints whether issue 15's goal
#    (tf32, batch 256: <= 1.0 ms and <= 0.8x PyTorch) is met.
if command -v python3 >/dev/null && timeout 30 python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  run "pytorch" 45 python3 scripts/bench_torch.py --batch 32 256 --graft "$BIN/graft-cuda"
else
  notrun "pytorch" "PyTorch with CUDA not importable here"
fi

# 5. TensorFlow on the GPU handing its features device to device to the
#    CUDA head, against TensorFlow on the CPU (graft-cuda tf-features:
#    bin/graft-cuda from make graft-cuda-tf, a libtensorflow with CUDA at
#    run time, a SavedModel: TF_MODEL, default testdata/models/fashion_cnn).
TF_MODEL=${TF_MODEL:-testdata/models/fashion_cnn}
if ! "$BIN/graft-cuda" tf-features --help >/dev/null 2>&1; then
  notrun "tf-features" "$BIN/graft-cuda has no TensorFlow join: build it with make graft-cuda-tf"
elif [ ! -d "$TF_MODEL" ]; then
  notrun "tf-features" "no SavedModel at $TF_MODEL (TF_MODEL)"
else
  run "tf-features ($TF_MODEL)" 60 "$BIN/graft-cuda" tf-features --model "$TF_MODEL" ${TF_TAP:+--tap "$TF_TAP"}
fi

table
exit $status
