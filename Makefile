# samlab: every command creates .venv and installs the locked environment (requirements.lock, made from
# pyproject.toml's ranges by `make lock`) when needed. PYVER picks the Python (3.12 by default; 3.13 supported).
PYVER  ?= 3.12
PYTHON ?= $(shell for p in python$(PYVER) $(wildcard $(HOME)/.pyenv/versions/$(PYVER).*/bin/python$(PYVER)); do \
            $$p -c 'import sys' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.samlab-installed-$(PYVER)
SCALE  ?= quick
UV_VERSION := $(shell sed -n 's/^uv==\([^ ;]*\).*/\1/p' $(LOCK))

.PHONY: test test-fast test-browser doctor reproduce course site lab bench install lock clean-venv

install: $(STAMP)

## The venv: Python $(PYVER), uv (the lock's version) installed by pip, then the lock installed exactly by uv.
$(STAMP): pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "need Python $(PYVER): put python$(PYVER) on PATH or set PYTHON=/path/to/python$(PYVER) (supported: 3.12, 3.13)"; exit 1; }
	@if test -x $(BIN)/python && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(PYVER)".split("."))))'; then \
	    echo "$(VENV) holds another Python: recreating it"; rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync -q --python $(BIN)/python $(LOCK)
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

## make lock: regenerate requirements.lock from pyproject.toml (UPGRADE=1: the newest releases the ranges allow).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.12 --no-header --no-annotate \
	    $(if $(UPGRADE),--upgrade) -o $(LOCK)

CHROMIUM ?= $(or $(SAMLAB_CHROMIUM),$(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser)))

## make test: the whole test suite, notebooks executed headless at smoke scale and, with Chromium, in JupyterLab.
test: $(STAMP)
	@test -n "$(CHROMIUM)" || echo "make test: no Chromium: tests/test_browser.py (the notebooks in JupyterLab) is SKIPPED; apt-get install -y chromium to run it (.ci/run does, and requires it)"
	$(BIN)/python -m pytest
	@test -n "$(CHROMIUM)" || echo "make test: reminder: the browser test was skipped (no Chromium)"

## make test-fast: the install test and the tests that run in seconds (no notebook, browser or slow test): CI's second Python.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "install or not (notebook or browser or slow)"

## make test-browser: only the notebooks in JupyterLab in headless Chromium (fails without Chromium).
test-browser: $(STAMP)
	SAMLAB_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -m browser tests/test_browser.py

## make doctor: the setup check (widgets, aihwkit, torch, data, folders).
doctor: $(STAMP)
	$(BIN)/python -m samlab doctor

## make reproduce: every notebook headless at $(SCALE) scale (default quick); writes figures/.
reproduce: $(STAMP)
	$(BIN)/python -m samlab reproduce --scale $(SCALE)

## make course: the student edition (solution cells removed) and the instructor edition into build/course/.
course: $(STAMP)
	$(BIN)/python -m samlab course --out build/course

## make site: the static HTML site (Sphinx, offline) from the notebooks `make reproduce` executed, into build/site/.
site: $(STAMP)
	$(BIN)/python -m samlab site --out build/site

## make lab: JupyterLab from the same venv.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## make bench: the benchmark scripts (run alone: they time a 2-core CPU).
bench: $(STAMP)
	$(BIN)/python benchmarks/step_overhead.py
	$(BIN)/python benchmarks/train_throughput.py

clean-venv:
	rm -rf $(VENV)
