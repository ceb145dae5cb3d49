# Every target installs what it needs first: `make demo` and `make test` work on a fresh Debian machine.
SHELL := /bin/bash
SOURCES := $(shell find src test -name '*.ts') tsconfig.json

.PHONY: setup build demo test lint fixtures clean

setup: node_modules/.installed

# apt only when a needed command is missing, so a second run costs nothing.
node_modules/.installed: package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --no-audit --no-fund
	touch $@

build: dist/.built

dist/.built: node_modules/.installed $(SOURCES)
	npx tsc -p tsconfig.json
	touch $@

demo: build
	node dist/src/cli/main.js demo

test: build
	node --test dist/test/

lint: setup
	npx eslint . && npx prettier --check .

# Regenerates the PyTorch fixtures under test/fixtures (needs Debian's python3-torch; never run by tests).
fixtures:
	command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-torch python3-torchvision)
	for script in scripts/fixtures/*.py; do OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 /usr/bin/python3 $$script || exit 1; done

clean:
	rm -rf dist
