# CUDA: the head's kernels and the graft-cuda binary (docs/cuda.md),
# included by the Makefile. Building needs the CUDA 11.8 toolkit (make
# cuda-deps on Debian bookworm, as root) but no GPU; running needs only the
# driver (libcuda.so.1).
#
#   make cuda-deps     the toolkit from Debian's non-free component
#   make kernels       nvcc -> kernels/head.fatbin (embedded with -tags graftcuda:
#                      go build/vet/test -tags graftcuda need it first), the
#                      ptxas resource report build/ptxas.txt (summary in
#                      build/ptxas-summary.txt) and the SASS check (HMMA and
#                      cp.async in the tensor-core kernels: build/sass-check.txt)
#   make graft-cuda    bin/graft-cuda
#   make vet-cuda      go vet -tags graftcuda ./...
#   make gpu-test-bin  bin/gpu.test, the GPU tests and benchmarks
#   make gpu-check     on a GPU host, from binaries built elsewhere: tests,
#                      compute-sanitizer (memcheck, racecheck, synccheck,
#                      initcheck), benchmarks, PyTorch -> reports/gpu-check.txt
#   make kernels-emu   head.cu's kernels on the CPU against float64
#   make kernels-emu-tsan  the same, small cases, under ThreadSanitizer
#   make kernels-emu-ubsan every case under UndefinedBehaviorSanitizer
#   make kernels-emu-mutants  mistakes in head.cu the emulator must catch

NVCC      ?= nvcc
CUDA_ARCH := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_70,code=compute_70 -gencode arch=compute_80,code=compute_80
# Warnings (nvcc's and ptxas's, register spills and local memory included)
# are errors.
NVCCFLAGS := -O3 -std=c++14 -Werror all-warnings -Xptxas -v,-warn-spills,-warn-lmem-usage
# sm_70 (Volta) runs the compute_70 PTX through the driver's JIT; it is
# assembled here only for its resource report, where a few bytes of spill
# (conv_fwd, 4 bytes at 128 registers) are tolerated.
NVCCFLAGS_SM70 := -O3 -std=c++14 -Werror all-warnings -Xptxas -v
# cgo for gorgonia.org/cu: -lcuda resolves against the toolkit's libcuda
# stub (Debian's nvidia-cuda-dev puts it in /usr/lib/x86_64-linux-gnu/stubs,
# NVIDIA's installer in /usr/local/cuda/lib64/stubs), so that linking needs
# no driver; the binary loads the host's libcuda.so.1 at run time. cu's own
# C code is old: its deprecation and implicit-declaration warnings are
# silenced.
CUDA_STUBS ?= $(patsubst %/libcuda.so,%,$(firstword $(wildcard /usr/lib/x86_64-linux-gnu/stubs/libcuda.so /usr/local/cuda/lib64/stubs/libcuda.so)))
CUDA_ENV  := CGO_ENABLED=1 CGO_CFLAGS='-O2 -g -Wno-deprecated-declarations -Wno-implicit-function-declaration' \
             $(if $(CUDA_STUBS),CGO_LDFLAGS='-L$(CUDA_STUBS)',)
CUDA_TAGS = graftcuda $(TAGS)

.PHONY: cuda-deps kernels kernels-emu kernels-emu-tsan kernels-emu-ubsan kernels-emu-mutants graft-cuda vet-cuda gpu-test-bin gpu-check

# The CUDA toolkit from Debian's non-free component (bookworm), as root.
cuda-deps:
	@if command -v $(NVCC) >/dev/null; then echo "nvcc present: $$($(NVCC) --version | tail -1)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	    > /etc/apt/sources.list.d/debian-non-free.sources && \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit nvidia-cuda-dev; \
	else echo "install the CUDA 11.8 toolkit (Debian: nvidia-cuda-toolkit nvidia-cuda-dev from non-free) to build graft-cuda" >&2; exit 1; fi

kernels: kernels/head.fatbin

kernels/head.fatbin: kernels/head.cu
	@mkdir -p build
	@echo "nvcc: $< -> $@ (SASS sm_80, sm_90; PTX compute_70, compute_80); ptxas report build/ptxas.txt"
	@$(NVCC) -fatbin $(NVCCFLAGS) $(CUDA_ARCH) -o $@.tmp $< > build/ptxas.txt 2>&1 || { cat build/ptxas.txt; rm -f $@.tmp; exit 1; }
	@# The compute_70 PTX is JIT-compiled on the GPU; assemble it for sm_70 here too, so that its resource use is known.
	@$(NVCC) -cubin $(NVCCFLAGS_SM70) -arch=sm_70 -o build/head_sm70.cubin $< >> build/ptxas.txt 2>&1 || { cat build/ptxas.txt; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@
	@# The tensor-core kernels must issue HMMA and cp.async (LDGSTS) in their SASS.
	@scripts/sass-check.sh $@ > build/sass-check.txt || { cat build/sass-check.txt; rm -f $@; exit 1; }
	@awk '/Compiling entry function/ { fn=$$7; arch=$$9; gsub(/\047/,"",fn); gsub(/\047/,"",arch) } \
	     /bytes stack frame/ { spill=$$0; sub(/^ +/,"",spill) } \
	     /Used [0-9]+ registers/ { sub(/.*Used /,""); printf "  %-6s %-15s %s; %s\n", arch, fn, $$0, spill }' build/ptxas.txt | tee build/ptxas-summary.txt

graft-cuda: kernels
	$(CUDA_ENV) $(GO) build -tags '$(CUDA_TAGS)' -ldflags '$(LDFLAGS)' -o bin/graft-cuda ./cmd/graft-cuda

# graft's tag is graftcuda, not cuda: gorgonia.org/gorgonia has a cuda
# build tag of its own that needs cuDNN (cudnn.h), which Debian does not
# ship, and head's test oracle imports gorgonia. With graftcuda every
# package, head included, is vetted here.
vet-cuda: kernels
	$(CUDA_ENV) $(GO) vet -tags '$(CUDA_TAGS)' ./...

gpu-test-bin: kernels
	$(CUDA_ENV) $(GO) test -c -tags '$(CUDA_TAGS)' -o bin/gpu.test ./gpu

# Needs bin/graft-cuda and bin/gpu.test (make graft-cuda gpu-test-bin on the
# build machine, then copy bin/ and scripts/ here); no Go, no toolkit.
gpu-check:
	scripts/gpu-check.sh

# head.cu's kernels run on the CPU (scripts/kernel-emu: one thread per CUDA
# thread) against a float64 reference: their indexing and arithmetic,
# checked without a GPU. Needs g++ only.
kernels-emu:
	scripts/kernel-emu/run.sh

# A few small cases of the emulator under ThreadSanitizer (about a minute
# on 2 cores): one OS thread per CUDA thread, so a missing __syncthreads
# shows as a data race on shared memory.
kernels-emu-tsan:
	scripts/kernel-emu/run.sh --tsan

# The emulator under UndefinedBehaviorSanitizer (signed overflow, bad
# shifts, misaligned or null accesses; the first report fails it): every
# case, about 2 minutes on 2 cores.
kernels-emu-ubsan:
	scripts/kernel-emu/run.sh --ubsan

# Mistakes the strict emulator must catch (scripts/kernel-emu/mutants.sh):
# a cp.async wait count off by one, a missing wait or barrier, swapped
# fragment registers, swapped BF16 halves, a swizzle applied on one side
# only, a ReLU that drops NaN.
# Each is a patched copy of head.cu; the target fails if one passes.
# About 2 minutes on 2 cores.
kernels-emu-mutants:
	scripts/kernel-emu/mutants.sh
