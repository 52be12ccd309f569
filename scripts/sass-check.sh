#!/usr/bin/env bash
# sass-check: the compiled kernels use what their source says they do, read
# from the SASS in the fatbin (cuobjdump, no GPU needed). For sm_80 and
# sm_90: the tensor-core kernels issue HMMA (mma.sync) and LDGSTS
# (cp.async), at least one K step's worth of HMMA per warp (a 64 x 32 warp
# tile is 4 x 4 mma tiles: TF32 x 2 k8 steps = 32, BF16 x 1 k16 = 16); the SIMT
# kernels issue no HMMA. Writes build/sass-summary.txt.
#
#   sass-check.sh [FATBIN]    (default kernels/head.fatbin)
set -euo pipefail
cd "$(dirname "$0")/.."
fatbin=${1:-kernels/head.fatbin}
mkdir -p build
cuobjdump -sass "$fatbin" | awk '
  /arch = sm_/ { arch = $3 }
  /Function :/ { fn = $3; seen[arch" "fn] = 1 }
  /HMMA/       { hmma[arch" "fn]++ }
  /LDGSTS/     { ldgsts[arch" "fn]++ }
  END { for (k in seen) printf "%s %d %d\n", k, hmma[k], ldgsts[k] }' | sort > build/sass-summary.txt
status=0
for arch in sm_80 sm_90; do
  for k in conv_fwd_tf32:32 conv_wgrad_tf32:32 conv_fwd_bf16:16 conv_wgrad_bf16:16 conv_fwd:0 conv_wgrad:0; do
    fn=${k%%:*} want=${k##*:}
    line=$(awk -v a="$arch" -v f="$fn" '$1 == a && $2 == f' build/sass-summary.txt)
    if [ -z "$line" ]; then echo "sass-check: $fn has no $arch SASS in $fatbin" >&2; status=1; continue; fi
    read -r _ _ hmma ldgsts <<<"$line"
    if [ "$want" = 0 ]; then
      [ "$hmma" = 0 ] || { echo "sass-check: $arch $fn: $hmma HMMA in a SIMT kernel" >&2; status=1; }
    elif [ "$hmma" -lt "$want" ] || [ "$ldgsts" = 0 ]; then
      echo "sass-check: $arch $fn: $hmma HMMA (want at least $want), $ldgsts LDGSTS (want cp.async)" >&2; status=1
    fi
    printf '  %-6s %-16s HMMA %3d  LDGSTS %3d\n' "$arch" "$fn" "$hmma" "$ldgsts"
  done
done
exit $status
