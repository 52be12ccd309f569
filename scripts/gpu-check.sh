#!/usr/bin/env bash
# gpu-check: everything about graft's CUDA path that needs a GPU, in one
# command, on any NVIDIA host, from binaries built elsewhere (make
# graft-cuda gpu-test-bin on the build machine; copy bin/ and scripts/).
# Needs the NVIDIA driver; compute-sanitizer (CUDA toolkit) and PyTorch are
# used when present. Writes reports/gpu-check.txt; exits non-zero when a
# check fails or none could run.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
REPORT=${REPORT:-reports/gpu-check.txt}
mkdir -p "$(dirname "$REPORT")"
: > "$REPORT"
status=0
declare -a summary

log() { echo "$*" | tee -a "$REPORT"; }
section() { log ""; log "=== $*"; }
# run NAME CMD...: runs a check, appends its output, records PASS/FAIL.
run() {
  local name=$1; shift
  section "$name: $*"
  local start=$SECONDS out
  out=$(mktemp)
  "$@" 2>&1 | tee -a "$REPORT" "$out"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ]; then summary+=("FAIL  $name (exit $rc)"); status=1
  # Go tests that all skipped (a tensor-core mode on a GPU before 8.0) did not check anything.
  elif grep -q -- '--- SKIP' "$out" && ! grep -q -- '--- PASS' "$out"; then summary+=("SKIP  $name (every test skipped: see above)")
  else summary+=("PASS  $name ($((SECONDS - start)) s)"); fi
  rm -f "$out"
  return "$rc"
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
if ! run "devices" "$BIN/graft-cuda" devices; then
  log ""
  log "NO USABLE GPU: nothing below ran; the CUDA path is UNVERIFIED on this host."
  exit 1
fi

# 1. The GPU tests, per precision mode. fp32: every op against the CPU
#    reference and float64 at 1e-4, the update rules, a 3-epoch run against
#    the CPU, out-of-memory errors, bad input. tf32 and bf16: the
#    tensor-core GEMMs against float64 within gpu.ErrorBound (docs/cuda.md)
#    and a 3-epoch run that must learn what the CPU's learns. A mode the GPU
#    lacks (tensor cores before compute capability 8.0) shows as skipped.
run "tests fp32" "$BIN/gpu.test" -test.v -test.count=1 \
  -test.run 'TestDevices|TestOpsMatchCPU|TestUpdateMatchesCPU|TestTrainingMatchesCPU/fp32|TestOutOfMemory|TestBadInput'
for mode in tf32 bf16; do
  run "tests $mode" "$BIN/gpu.test" -test.v -test.count=1 -test.run "TestTensorCoreGEMMsWithinBound/$mode|TestTrainingMatchesCPU/$mode"
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
    run "compute-sanitizer $tool (tests)" "$SAN" --tool "$tool" --error-exitcode 9 "$BIN/gpu.test" -test.run "$small" -test.count=1
    run "compute-sanitizer $tool (tensor-core tests)" "$SAN" --tool "$tool" --error-exitcode 9 "$BIN/gpu.test" -test.run "$smalltc" -test.count=1
  done
  for mode in tf32 bf16 fp32; do
    run "compute-sanitizer memcheck (bench head, $mode, batch 4)" "$SAN" --tool memcheck --error-exitcode 9 \
      "$BIN/graft-cuda" bench head --precision "$mode" --batch 4 --channels 256 --filters 64 --min-time 1ms
  done
else
  section "compute-sanitizer"
  log "not found (install the CUDA toolkit): memcheck, racecheck, synccheck and initcheck UNVERIFIED"
  summary+=("SKIP  compute-sanitizer (not installed)")
fi

# 3. Benchmarks: the Go benchmark (every mode) and graft-cuda bench head,
#    batch 32 and 256, per mode.
run "benchmark" "$BIN/gpu.test" -test.run '^$' -test.bench BenchmarkTrainStep -test.benchtime 3s
for mode in tf32 bf16 fp32; do
  run "bench head $mode" "$BIN/graft-cuda" bench head --precision "$mode" --batch 32,256 --min-time 3s
done

# 4. PyTorch on the same head, same shapes, same init, Adam, in the same
#    three modes, in this same run; it prints whether issue 15's goal
#    (tf32, batch 256: <= 1.0 ms and <= 0.8x PyTorch) is met.
if command -v python3 >/dev/null && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  run "pytorch" python3 scripts/bench_torch.py --batch 32 256 --graft "$BIN/graft-cuda"
else
  section "pytorch"
  log "PyTorch with CUDA not importable: the PyTorch comparison did NOT run"
  summary+=("SKIP  pytorch (not installed)")
fi

section "summary"
for s in "${summary[@]}"; do log "$s"; done
log "report: $REPORT"
exit $status
