"""Shared test set-up: one torch thread (2-core machine), results store and figures in temp folders."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Every test writes runs and figures under a temp folder, never into the user's data/ or figures/."""
    base = tmp_path_factory.mktemp("samlab")
    monkeypatch.setenv("SAMLAB_RUNS", str(base / "runs"))
    monkeypatch.setenv("SAMLAB_FIGURES", str(base / "figures"))
    yield base


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """A folder for the notebooks the suite executes at smoke scale (tests/test_notebooks.py puts them here);
    tests/test_site.py builds the static site from them instead of executing them again."""
    return tmp_path_factory.mktemp("executed")
