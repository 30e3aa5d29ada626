# samlab: every command creates .venv and installs the project (pyproject.toml is the one dependency list) when needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.samlab-installed
SCALE  ?= quick

.PHONY: test test-browser doctor reproduce lab bench install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

CHROMIUM ?= $(or $(SAMLAB_CHROMIUM),$(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser)))

## make test: the whole test suite, notebooks executed headless at smoke scale and, with Chromium, in JupyterLab.
test: $(STAMP)
	@test -n "$(CHROMIUM)" || echo "make test: no Chromium: tests/test_browser.py (the notebooks in JupyterLab) is SKIPPED; apt-get install -y chromium to run it (.ci/run does, and requires it)"
	$(BIN)/python -m pytest
	@test -n "$(CHROMIUM)" || echo "make test: reminder: the browser test was skipped (no Chromium)"

## make test-browser: only the notebooks in JupyterLab in headless Chromium (fails without Chromium).
test-browser: $(STAMP)
	SAMLAB_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -m browser tests/test_browser.py

## make doctor: the setup check (widgets, aihwkit, torch, data, folders).
doctor: $(STAMP)
	$(BIN)/python -m samlab doctor

## make reproduce: every notebook headless at $(SCALE) scale (default quick); writes figures/.
reproduce: $(STAMP)
	$(BIN)/python -m samlab reproduce --scale $(SCALE)

## make lab: JupyterLab from the same venv.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## make bench: the benchmark scripts (run alone: they time a 2-core CPU).
bench: $(STAMP)
	$(BIN)/python benchmarks/step_overhead.py
	$(BIN)/python benchmarks/train_throughput.py

clean-venv:
	rm -rf $(VENV)
