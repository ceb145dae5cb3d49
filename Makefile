# Every target installs what it needs first: `make demo` and `make test` work on a fresh Debian machine.
SHELL := /bin/bash
SOURCES := $(shell find src test bench -name '*.ts' -not -path '*/node_modules/*') tsconfig.json
NATIVE_SOURCES := $(wildcard native/src/*.cc native/src/*.h native/gloo/*.cc) native/build.mjs binding.gyp native/gloo/binding.gyp
WASM_SOURCES := $(wildcard wasm/src/*.c wasm/src/*.h) wasm/build.mjs wasm/relaxed-simd.mjs
# oneDNN and a C++ toolchain for the native backend; Fashion-MNIST for the main job and the data tests; strace for
# the test that kills a training process at each file system call of a checkpoint save; ONNX's own operator tests;
# clang's wasm32 target and wasm-ld for the wasm backend; Chromium for the page's tests (test/web/); Gloo for training
# in several processes.
SYSTEM_PACKAGES := libdnnl-dev g++ make python3 dataset-fashion-mnist strace libonnx-testdata clang lld chromium libgloo-dev

.PHONY: setup system-packages build web test-browser demo test test-native test-wasm lint docs-api fixtures bench bench-browser soak clean

setup: node_modules/.installed build/native.stamp node_modules/.linked

# apt only when a needed command is missing, so a second run costs nothing.
node_modules/.installed: package-lock.json | system-packages
	@command -v node >/dev/null && command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --no-audit --no-fund
	touch $@

# apt-get update only when the install fails without it; never fatal: without oneDNN convnets runs on the reference
# backend, without the dataset, strace or ONNX's tests their tests skip. CONVNETS_SKIP_NATIVE=1 skips it all.
system-packages:
	@[ "$$CONVNETS_SKIP_NATIVE" = 1 ] || { test -e /usr/include/oneapi/dnnl/dnnl.hpp && test -d /usr/share/datasets/fashion-mnist && command -v g++ && command -v python3 && command -v strace && test -d /usr/share/libonnx-testdata && command -v clang && command -v wasm-ld && command -v chromium && test -e /usr/include/gloo/allreduce.h; } >/dev/null || \
	  apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; } || \
	  echo "convnets: could not install $(SYSTEM_PACKAGES) with apt; the native or wasm backend, the dataset, strace, ONNX's tests, Chromium or Gloo will be missing"

# `convnets` on PATH (npm's global bin, a link to this checkout's dist/src/cli/main.js); never fatal: without the
# permission, `npx convnets` in the checkout does the same.
node_modules/.linked: | node_modules/.installed
	@npm link --ignore-scripts --no-audit --no-fund >/dev/null 2>&1 && echo "convnets: linked onto PATH ($$(command -v convnets))" || \
	  echo "convnets: could not link the command onto PATH (npm link); run it as npx convnets from this directory"
	@touch $@

# Rebuilds the addon when its sources change (npm ci builds it the first time); prints one line, never fails.
build/native.stamp: $(NATIVE_SOURCES) | node_modules/.installed
	node native/build.mjs

# A build that found no oneDNN is retried once the headers are there (a failed compilation waits for a source change).
ifneq ($(wildcard /usr/include/oneapi/dnnl/dnnl.hpp),)
ifneq ($(shell grep -l 'headers not found' build/native.stamp 2>/dev/null),)
.PHONY: build/native.stamp
endif
endif
ifneq ($(wildcard /usr/include/gloo/allreduce.h),)
ifneq ($(shell grep -l 'Gloo not found' build/native.stamp 2>/dev/null),)
.PHONY: build/native.stamp
endif
endif

# The wasm backend's kernels (wasm/build.mjs): one line, never fails; without clang and lld the backend says it is
# not built when asked for, and its tests skip.
dist/wasm/convnets.wasm: $(WASM_SOURCES) | node_modules/.installed system-packages
	node wasm/build.mjs

build: dist/.built build/native.stamp dist/wasm/convnets.wasm dist/web/.built

# The browser page (scripts/build-web.mjs): a static site in dist/web with the wasm kernels, the shipped weights and
# a Fashion-MNIST subset; `convnets serve` serves it (docs/browser.md).
web: dist/web/.built

dist/web/.built: dist/.built dist/wasm/convnets.wasm scripts/build-web.mjs $(wildcard src/web/*)
	node scripts/build-web.mjs
	touch $@

dist/.built: node_modules/.installed $(SOURCES)
	npx tsc -p tsconfig.json
	touch $@

# The main job: LeNet-5 trained on Fashion-MNIST with the CLI's defaults, then its report (test accuracy, per-class
# accuracy; the chart is out/lenet5/chart.svg).
demo: build
	node dist/src/cli/main.js train lenet5 --data fashion-mnist --val-split 0 --out out/lenet5
	cat out/lenet5/report.md

# The suite runs on the reference backend (the oracle); test/backend/native/ selects the native backend itself and
# checks it against the reference and the PyTorch fixtures, or says it is skipped where the addon is not built.
# bench/'s onnxruntime-node (a 5 s install) runs the exported ONNX files in the export tests.
test: build bench/node_modules/.installed
	CONVNETS_BACKEND=reference node --test dist/test/

# The page's tests in headless Chromium alone (test/web/); they skip with a line where Chromium or dist/web is missing
# (the browser benchmark's page test, where bench/'s peers are missing).
test-browser: build bench/node_modules/.installed
	CONVNETS_BACKEND=reference node --test dist/test/web/

# The whole suite on the native backend: not what CI runs, a wider check of the addon. Tests import the core, which
# knows no native backend: each test process loads the Node entry first, which registers it.
test-native: build bench/node_modules/.installed
	CONVNETS_BACKEND=native node --import ./dist/src/index.js --test dist/test/

# The whole suite on the wasm backend, as test-native does for native.
test-wasm: build bench/node_modules/.installed
	CONVNETS_BACKEND=wasm node --import ./dist/src/index.js --test dist/test/

lint: setup
	npx eslint . && npx prettier --check . && npx typedoc --emit none --treatValidationWarningsAsErrors

# The API reference, generated by TypeDoc from the doc comments (typedoc.json), as HTML in dist/api/ (open
# dist/api/index.html). The suite (test/api-docs.test.ts) fails on a public symbol without a doc comment.
docs-api: node_modules/.installed
	npx typedoc

# Regenerates the PyTorch fixtures under test/fixtures (needs Debian's python3-torch; never run by tests).
fixtures:
	command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-torch python3-torchvision)
	for script in scripts/fixtures/*.py; do OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 /usr/bin/python3 $$script || exit 1; done

# convnets against its peers (bench/README.md). onnxruntime-node lives in bench/package.json, out of the library's
# dependencies, and installs offline only with ONNXRUNTIME_NODE_INSTALL=skip (DESIGN.md, "Facts"); without it the
# benchmark skips that peer and says so. Options pass through: make bench BENCH_ARGS="--only infer --seconds 1".
bench: build bench/node_modules/.installed
	npm run bench -- $(BENCH_ARGS)

# convnets against onnxruntime-web and TensorFlow.js in headless Chromium (bench/browser/README.md); options pass
# through: make bench-browser BENCH_ARGS="--json --seconds 1".
bench-browser: build web bench/node_modules/.installed
	node bench/browser/bench.mjs $(BENCH_ARGS)

# Resident memory over 10,000 ResNet-20 training steps and 10,000 inference calls (bench/soak.mjs). Options pass
# through: make soak SOAK_ARGS="--steps 2000".
soak: build
	node bench/soak.mjs $(SOAK_ARGS)

bench/node_modules/.installed: bench/package.json bench/package-lock.json | node_modules/.installed
	cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund && touch node_modules/.installed || \
	  echo "convnets: could not install bench/'s peers (onnxruntime-node); the benchmark will skip them"

clean:
	rm -rf dist build
