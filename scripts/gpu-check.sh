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
  local start=$SECONDS
  "$@" 2>&1 | tee -a "$REPORT"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" = 0 ]; then summary+=("PASS  $name ($((SECONDS - start)) s)"); else summary+=("FAIL  $name (exit $rc)"); status=1; fi
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

# 1. The GPU tests: every op against the CPU reference, a 3-epoch training
#    run on both devices, out-of-memory errors, bad input.
run "tests" "$BIN/gpu.test" -test.v -test.count=1

# 2. compute-sanitizer (four tools) over a short training run and the op tests on small
#    shapes (the reference shape is left to the plain test run: the
#    sanitizers are slow).
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$SAN" ]; then
  # -test.run splits on '/': the second level selects the small op cases
  # and keeps every subtest of the training and update tests.
  small='TestTrainingMatchesCPU|TestUpdateMatchesCPU|TestOpsMatchCPU/(odd|batch_1$|kernel_1|linear|conv|adam|sgd)'
  # memcheck: out-of-bounds and misaligned accesses; racecheck: shared
  # memory races; synccheck: barriers not reached by every thread of a
  # block; initcheck: reads of device memory never written.
  for tool in memcheck racecheck synccheck initcheck; do
    run "compute-sanitizer $tool (tests)" "$SAN" --tool "$tool" --error-exitcode 9 "$BIN/gpu.test" -test.run "$small" -test.count=1
  done
  run "compute-sanitizer memcheck (bench head, batch 4)" "$SAN" --tool memcheck --error-exitcode 9 \
    "$BIN/graft-cuda" bench head --batch 4 --channels 256 --filters 64 --min-time 1ms
else
  section "compute-sanitizer"
  log "not found (install the CUDA toolkit): memcheck, racecheck, synccheck and initcheck UNVERIFIED"
  summary+=("SKIP  compute-sanitizer (not installed)")
fi

# 3. Benchmarks: the Go benchmark and graft-cuda bench head, batch 32 and 256.
run "benchmark" "$BIN/gpu.test" -test.run '^$' -test.bench BenchmarkTrainStep -test.benchtime 3s
run "bench head" "$BIN/graft-cuda" bench head --batch 32,256 --min-time 3s

# 4. PyTorch on the same head, same shapes, same init, Adam; TF32 off and on.
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
