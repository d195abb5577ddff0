# Two entry points for people: `make demo` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SOLCX_BINARY_PATH := $(CURDIR)/.tools/solcx

.PHONY: demo test install engines build bench clean

demo: build
	$(BIN)/healthsilk demo

test: build
	$(BIN)/pytest

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

engines:
	bash network/engines/build.sh

build: install engines
	$(BIN)/python -m ledger.compile install
	$(BIN)/python -m ledger.compile build

bench: build
	$(BIN)/python -m bench.gas --json

clean:
	rm -rf $(VENV) node_modules artifacts build .tools
