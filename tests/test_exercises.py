"""Exercise checks (right / not right yet with a hint / not answered yet) and the two editions of a notebook."""
import json

import numpy as np
import pytest
import torch

from samlab import course, exercises


def test_check_right_wrong_unanswered(capsys):
    assert exercises.check("a", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0])) is True
    assert exercises.check("a", ..., np.array([1.0, 2.0])) is None
    assert exercises.check("a", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0]), hint="one value per weight") is False
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "exercise a: right" and "not answered yet" in out[1]
    assert "shape (3,), expected shape (2,)" in out[2] and "Hint: one value per weight" in out[2]


def test_check_names_a_factor_or_a_sign_and_never_the_value(capsys):
    expected = np.array([0.25, -0.5, 0.125])
    assert exercises.check("f", 2 * expected, expected) is False
    assert exercises.check("s", -expected, expected) is False
    assert exercises.check("n", np.array([0.3, 0.1, 9.0]), expected) is False
    assert exercises.check("x", "abc", expected) is False
    out = capsys.readouterr().out
    assert "every entry is 2 times" in out and "sign is flipped" in out and "must be a number" in out
    assert "0.25" not in out and "0.125" not in out


def test_check_choice_by_digest(capsys):
    right = exercises.digest("ASAM")
    assert exercises.check_choice("q", "asam ", ["SAM", "ASAM"], right) is True
    assert exercises.check_choice("q", "SAM", ["SAM", "ASAM"], right, hint="which one scales with |w|?") is False
    assert exercises.check_choice("q", "SGD", ["SAM", "ASAM"], right) is False
    assert exercises.check_choice("q", ..., ["SAM", "ASAM"], right) is None
    out = capsys.readouterr().out
    assert "right" in out and "scales with |w|" in out and "not one of the options" in out and "not answered" in out


def _nb(*cells):
    return {"cells": [dict(cell_type=t, source=s, metadata={"tags": tags}, **({"outputs": [1], "execution_count": 3}
                                                                             if t == "code" else {}))
                      for t, s, tags in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


SOURCE = _nb(("code", "SCALE = 'smoke'", ["parameters"]),
             ("markdown", "Exercise 1: compute eps by hand.", ["exercise"]),
             ("code", "answer = ...", ["exercise"]),
             ("code", "answer = rho * w.abs() / w.norm()   # the solution", ["solution"]),
             ("code", "sl.exercises.check('1', answer, expected)", ["check"]))


def test_student_edition_drops_solutions_keeps_checks_and_strips_outputs():
    student = course.student_edition(SOURCE)
    assert [c["source"] for c in student["cells"]] == ["SCALE = 'smoke'", "Exercise 1: compute eps by hand.",
                                                      "answer = ...", "sl.exercises.check('1', answer, expected)"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in student["cells"] if c["cell_type"] == "code")
    assert len(course.instructor_edition(SOURCE)["cells"]) == 5
    assert course.solution_leaks(SOURCE, student) == []
    leaky = course.student_edition(SOURCE)
    leaky["cells"][2]["source"] = "answer = rho * w.abs() / w.norm()"
    assert course.solution_leaks(SOURCE, leaky) == ["answer = rho * w.abs() / w.norm()"]


def test_build_editions_writes_both_and_refuses_a_leak(tmp_path):
    src = tmp_path / "01_x.ipynb"
    src.write_text(json.dumps(SOURCE))
    written = course.build_editions(tmp_path / "build", sources=[src])
    student = json.loads(written["student"][0].read_text())
    assert len(student["cells"]) == 4 and len(json.loads(written["instructor"][0].read_text())["cells"]) == 5
    bad = json.loads(json.dumps(SOURCE))
    bad["cells"][1]["source"] = "Exercise 1: hint: answer = rho * w.abs() / w.norm()   # the solution"
    (tmp_path / "02_y.ipynb").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="would show solution lines"):
        course.build_editions(tmp_path / "build2", sources=[tmp_path / "02_y.ipynb"])


def test_make_course_writes_both_editions_of_every_notebook(tmp_path, capsys):
    from samlab import cli
    from samlab.notebooks import notebook_paths

    assert cli.main(["course", "--out", str(tmp_path)]) == 0
    for path in notebook_paths():
        source = json.loads(path.read_text())
        student = json.loads((tmp_path / "student" / path.name).read_text())
        instructor = json.loads((tmp_path / "instructor" / path.name).read_text())
        assert len(instructor["cells"]) == len(source["cells"])
        assert not any("solution" in course.tags(c) for c in student["cells"])
        assert course.solution_leaks(source, student) == []
    assert "student edition" in capsys.readouterr().out
