"""The editions' checks can fail (issue 20): a tiny notebook with one exercise, executed for real, whose
instructor edition has a wrong solution, and whose student edition has a cell that raises."""
from __future__ import annotations

import json

import pytest

from samlab import course
from samlab.notebooks import run_notebook

from test_notebooks import instructor_problems, student_problems


def _notebook(solution: str, exercise: str = "answer_99_1 = ...") -> dict:
    def code(src: str, *tags: str) -> dict:
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "execution_count": None, "outputs": [],
                "source": src}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                           "display_name": "Python 3"}},
            "cells": [code('SCALE = "smoke"', "parameters"), code("import samlab as sl"),
                      {"cell_type": "markdown", "metadata": {"tags": ["exercise"]}, "source": "What is 2 + 2?"},
                      code(exercise, "exercise"), code(solution, "solution"),
                      code('sl.exercises.check("99.1", answer_99_1, 4, hint="add")', "check")]}


def _run(nb: dict, tmp_path, name: str) -> list[dict]:
    src = tmp_path / f"{name}.ipynb"
    src.write_text(json.dumps(nb))
    out = run_notebook(src, scale="smoke", output=tmp_path / f"{name}_out.ipynb", threads=1, progress=False)
    return json.loads(out.read_text())["cells"]


@pytest.mark.notebook
def test_a_wrong_solution_and_a_raising_student_cell_fail_the_edition_checks(tmp_path):
    right = _run(_notebook("answer_99_1 = 2 + 2"), tmp_path, "right")
    assert instructor_problems(right) == []
    wrong = _run(_notebook("answer_99_1 = 2 * 3"), tmp_path, "wrong")
    assert instructor_problems(wrong) and "not right" in instructor_problems(wrong)[0]
    student = course.student_edition(_notebook("answer_99_1 = 2 + 2"))
    assert student_problems(_run(student, tmp_path, "student"), 1) == []      # "not answered yet": fine
    raising = course.student_edition(_notebook("answer_99_1 = 2 + 2", exercise="answer_99_1 = 1 / 0"))
    with pytest.raises(Exception, match="ZeroDivisionError"):      # the run itself stops: the test fails
        _run(raising, tmp_path, "raising")
    problems = student_problems(json.loads((tmp_path / "raising_out.ipynb").read_text())["cells"], 1)
    assert any("ZeroDivisionError" in p for p in problems), problems         # and the checker says why
