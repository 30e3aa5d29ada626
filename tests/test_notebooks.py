"""Every notebook runs top to bottom headless at smoke scale, is committed without outputs, and has a parameters cell."""
from __future__ import annotations

import json
import shutil

import pytest

from samlab import course
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
def test_notebook_runs_at_smoke_scale(path, tmp_path, _isolated_store, executed_notebooks):
    out = run_notebook(path, scale="smoke", output=tmp_path / path.name, threads=1, progress=False,
                       env={"SAMLAB_RUNS": str(_isolated_store / "runs"),
                            "SAMLAB_FIGURES": str(_isolated_store / "figures")})
    shutil.copyfile(out, executed_notebooks / path.name)     # the static site's test builds from these
    cells = json.loads(out.read_text())["cells"]
    if not path.name.startswith("00_"):  # the setup check draws nothing; every other notebook saves its figures
        assert list((_isolated_store / "figures").glob("*.png")), "the notebook saved no figure"
    # the instructor edition (this source, solutions in): no error, every exercise's check says "right"
    assert not instructor_problems(cells)
    said = check_lines(cells)
    # the student edition (solution cells removed) runs top to bottom, every exercise "not answered yet"
    student = tmp_path / "student" / path.name
    student.parent.mkdir()
    student.write_text(json.dumps(course.student_edition(json.loads(path.read_text())), indent=1))
    done = run_notebook(student, scale="smoke", output=tmp_path / "student_out.ipynb", threads=1, progress=False,
                        env={"SAMLAB_RUNS": str(_isolated_store / "runs"),
                             "SAMLAB_FIGURES": str(_isolated_store / "student_figures")})
    assert not student_problems(json.loads(done.read_text())["cells"], len(said))


def _errors(cells: list[dict]) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in cells if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def instructor_problems(cells: list[dict]) -> list[str]:
    """What is wrong with an executed instructor edition: an error, or a check that does not say "right"."""
    if _errors(cells):                  # the cells after an error did not run: their checks said nothing
        return _errors(cells)
    return [f"not right: {line}" for line in check_lines(cells) if not line.endswith(": right")]


def student_problems(cells: list[dict], exercises: int) -> list[str]:
    """What is wrong with an executed student edition: an error, a check that does not say "not answered yet",
    or another number of checks than the instructor edition's ``exercises``."""
    if _errors(cells):
        return _errors(cells)
    said = check_lines(cells)
    return ([f"answered: {line}" for line in said if "not answered yet" not in line]
            + ([f"{len(said)} checks, the instructor edition has {exercises}"] if len(said) != exercises else []))


def check_lines(cells: list[dict]) -> list[str]:
    """What the cells tagged ``check`` printed (one line per exercise: ``exercise N: right`` ...)."""
    out = []
    for c in cells:
        if c["cell_type"] == "code" and "check" in c.get("metadata", {}).get("tags", []):
            text = "".join(o["text"] if isinstance(o["text"], str) else "".join(o["text"])   # a str or lines
                           for o in c.get("outputs", []) if o.get("output_type") == "stream")
            lines = [line for line in text.splitlines() if line.startswith("exercise ")]
            assert len(lines) == 1, f"a check cell must print one line, printed {text!r}"
            out += lines
    return out


def test_check_lines_catch_a_wrong_and_an_unanswered_exercise():
    """The assertions above can fail: a check that printed "not right yet" is not ": right"."""
    cell = lambda text: {"cell_type": "code", "metadata": {"tags": ["check"]},  # noqa: E731
                         "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}
    lines = check_lines([cell("exercise 01.1: not right yet. Hint: x\n"), cell("exercise 01.2: right\n")])
    assert [line.endswith(": right") for line in lines] == [False, True]
    with pytest.raises(AssertionError, match="one line"):
        check_lines([cell("nothing\n")])


def test_every_notebook_but_the_setup_check_has_two_to_four_exercises():
    for path in NOTEBOOKS:
        if path.name.startswith("00_"):
            continue
        cells = json.loads(path.read_text())["cells"]
        checks = [c for c in cells if "check" in c.get("metadata", {}).get("tags", [])]
        solutions = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
        assert 2 <= len(checks) <= 4, f"{path.name}: {len(checks)} exercises"
        assert len(solutions) >= len(checks), f"{path.name}: an exercise without a solution"
        assert not course.solution_leaks(json.loads(path.read_text()),
                                         course.student_edition(json.loads(path.read_text())))
