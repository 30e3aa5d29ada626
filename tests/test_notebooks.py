"""Every notebook runs top to bottom headless at smoke scale, is committed without outputs, and has a parameters cell."""
from __future__ import annotations

import json

import pytest

from samlab.notebooks import notebook_paths, run_notebook

NOTEBOOKS = notebook_paths()


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_*.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean_with_parameters_cell(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    assert "SCALE" in "".join(tagged[0]["source"])


#: A notebook reads "parameters, build, call, plot, explore, takeaways": the logic lives in the tested library.
MAX_CODE_LINES = 50


def code_lines(cells: list[dict]) -> int:
    """Non-blank, non-comment lines of the code cells (cells tagged ``exercise``, ``solution`` or ``check`` aside)."""
    return sum(1 for c in cells if c["cell_type"] == "code"
               and not {"exercise", "solution", "check"} & set(c.get("metadata", {}).get("tags", []))
               for line in "".join(c["source"]).splitlines() if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_thin(path):
    n = code_lines(json.loads(path.read_text())["cells"])
    assert n <= MAX_CODE_LINES, f"{path.name} has {n} code lines (at most {MAX_CODE_LINES}): move logic into samlab"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke_scale(path, tmp_path, _isolated_store):
    out = run_notebook(path, scale="smoke", output=tmp_path / path.name, threads=1, progress=False,
                       env={"SAMLAB_RUNS": str(_isolated_store / "runs"),
                            "SAMLAB_FIGURES": str(_isolated_store / "figures")})
    cells = json.loads(out.read_text())["cells"]
    errors = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    if not path.name.startswith("00_"):  # the setup check draws nothing; every other notebook saves its figures
        assert list((_isolated_store / "figures").glob("*.png")), "the notebook saved no figure"
