#!/usr/bin/env bash
# mutants.sh: the emulator must catch these mistakes in head.cu. Each
# mutant is a patched copy of kernels/head.cu (a perl substitution), built
# into the strict emulator with EMU_STAGGER (odd warps land their
# cp.async copies late) and run on the tensor-core kernels' small cases,
# finite and with NaN/Inf planted (kernel-emu tc). A mutant passes when
# that run exits 0: then the emulator missed it and this script fails. It
# also fails when a substitution no longer matches head.cu (the list must
# follow the source) or when the unmutated copy does not pass.
#
#   mutants.sh            every mutant
#   mutants.sh NAME...    those named
set -uo pipefail
cd "$(dirname "$0")"
src=../../kernels/head.cu
dir=$(mktemp -d "${TMPDIR:-/tmp}/graft-mutants.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# name | perl -0pe program (\Q...\E quotes the source text)
mutants=(
  'wait-off-by-one|s/\Qcp_async_wait<TC_STAGES - 2>();\E/cp_async_wait<TC_STAGES - 1>();/'
  'no-final-wait|s/\Q    cp_async_wait<0>();\E\n//'
  'missing-barrier|s/(\Qcp_async_wait<TC_STAGES - 2>();\E)\s+\Q__syncthreads();\E/$1/'
  'tf32-a-registers-swapped|s/\Qaf[mi][1] = to_tf32(a.tf(as, mi, 1, 2 * kq));\E/AF1/; s/\Qaf[mi][2] = to_tf32(a.tf(as, mi, 0, 2 * kq + 1));\E/af[mi][2] = to_tf32(a.tf(as, mi, 1, 2 * kq));/; s/AF1/af[mi][1] = to_tf32(a.tf(as, mi, 0, 2 * kq + 1));/'
  'tf32-b-registers-swapped|s/\Qbf[ni][0] = to_tf32(b.tf(bs, ni, 2 * kq));\E/bf[ni][0] = to_tf32(b.tf(bs, ni, 2 * kq + 1));/; s/\Qbf[ni][1] = to_tf32(b.tf(bs, ni, 2 * kq + 1));\E/bf[ni][1] = to_tf32(b.tf(bs, ni, 2 * kq));/'
  'bf16-a-halves-swapped|s/\Qaf[mi][0] = pack_bf16(a.bf(as, mi, 0, 0, 0), a.bf(as, mi, 0, 0, 1));\E/af[mi][0] = pack_bf16(a.bf(as, mi, 0, 0, 1), a.bf(as, mi, 0, 0, 0));/'
  'bf16-b-halves-swapped|s/\Qbf[ni][1] = pack_bf16(b.bf(bs, ni, 1, 0), b.bf(bs, ni, 1, 1));\E/bf[ni][1] = pack_bf16(b.bf(bs, ni, 1, 1), b.bf(bs, ni, 1, 0));/'
  'bf16-b-registers-swapped|s/\Qbf[ni][0] = pack_bf16(b.bf(bs, ni, 0, 0), b.bf(bs, ni, 0, 1));\E/BF0/; s/\Qbf[ni][1] = pack_bf16(b.bf(bs, ni, 1, 0), b.bf(bs, ni, 1, 1));\E/bf[ni][1] = pack_bf16(b.bf(bs, ni, 0, 0), b.bf(bs, ni, 0, 1));/; s/BF0/bf[ni][0] = pack_bf16(b.bf(bs, ni, 1, 0), b.bf(bs, ni, 1, 1));/'
  'a-swizzle-not-applied-on-store|s/\Qreturn m * TC_K + ((((k >> 2) ^ tc_aswz(m)) & 3) << 2) + (k & 3);\E/return m * TC_K + (((k >> 2) & 3) << 2) + (k & 3);/'
  'relu-drops-nan|s/\Qreturn v <= 0.0f ? 0.0f : v;\E/return fmaxf(v, 0.0f);/'
)

build_run() { # name file: builds and runs; prints the last line, returns the run's status
  local name=$1 file=$2 bin="$dir/$1"
  if ! g++ -std=c++20 -O1 -pthread -Wall -Wno-unknown-pragmas -DEMU_STAGGER "-DHEAD_CU=\"$file\"" -o "$bin" main.cpp 2> "$dir/$name.build"; then
    echo "BUILD FAILED"; cat "$dir/$name.build" >&2; return 100
  fi
  "$bin" tc > "$dir/$name.out" 2>&1
  local rc=$?
  echo "$(grep -c '^FAIL ' "$dir/$name.out") failing checks, last: $(tail -1 "$dir/$name.out" | cut -c1-100)"
  return $rc
}

status=0
printf '%-32s %s\n' original "$(build_run original "$(realpath $src)")" || true
if ! grep -qx PASS "$dir/original.out"; then
  echo "mutants: the unmutated head.cu does not pass the strict emulator:" >&2; cat "$dir/original.out" >&2; exit 1
fi
for m in "${mutants[@]}"; do
  name=${m%%|*} prog=${m#*|}
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  file="$dir/$name.cu"
  perl -0pe "$prog" "$src" > "$file"
  if cmp -s "$src" "$file"; then
    printf '%-32s %s\n' "$name" "NOT APPLIED: the substitution no longer matches head.cu"; status=1; continue
  fi
  line=$(build_run "$name" "$file"); rc=$?
  if [ $rc = 100 ]; then verdict="NOT BUILT"; status=1
  elif [ $rc = 0 ]; then verdict="SURVIVED (the emulator missed it)"; status=1
  else verdict="caught (exit $rc)"; fi
  printf '%-32s %-36s %s\n' "$name" "$verdict" "$line"
done
[ $status = 0 ] && echo "mutants: every mutant caught" || echo "mutants: FAIL" >&2
exit $status
