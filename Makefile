# samlab: every command creates .venv and installs the project (pyproject.toml is the one dependency list) when needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.samlab-installed
SCALE  ?= quick

.PHONY: test reproduce lab bench install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

## make test: the whole test suite, notebooks executed headless at smoke scale.
test: $(STAMP)
	$(BIN)/python -m pytest

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
