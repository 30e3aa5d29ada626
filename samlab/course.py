"""Student and instructor editions of the notebooks, from one source per notebook (``make course``).

The source notebooks are the instructor edition: every exercise has its ``solution`` cells (cell tag), which the
test suite executes. The student edition is the same notebook without the cells tagged ``solution``; the
``exercise`` cells (questions, ``answer = ...`` cells) and the ``check`` cells (:mod:`samlab.exercises`) stay,
so it runs top to bottom and reports the unanswered exercises as "not answered yet". (nbgrader marks solution
regions inside a cell and replaces them with ``raise NotImplementedError()``; a student edition built that way
stops at the first exercise, so samlab removes whole cells instead.)

Outputs are stripped from both editions. :func:`solution_leaks` scans a student edition for any line of a
solution cell of the source.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .notebooks import notebook_paths

__all__ = ["EXERCISE_TAGS", "tags", "student_edition", "instructor_edition", "solution_leaks", "build_editions"]

#: The cell tags of an exercise: the question and the student's cell, the instructor's answer, the check.
EXERCISE_TAGS = ("exercise", "solution", "check")


def tags(cell: dict[str, Any]) -> set[str]:
    """A cell's tags."""
    return set(cell.get("metadata", {}).get("tags", []))


def _clean(nb: dict[str, Any]) -> dict[str, Any]:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def instructor_edition(nb: dict[str, Any]) -> dict[str, Any]:
    """The source as it is (solutions kept), outputs stripped."""
    return _clean(nb)


def student_edition(nb: dict[str, Any]) -> dict[str, Any]:
    """The source without its ``solution`` cells, outputs stripped."""
    out = _clean(nb)
    out["cells"] = [c for c in out["cells"] if "solution" not in tags(c)]
    return out


def _lines(cell: dict[str, Any]) -> list[str]:
    src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return [line.strip() for line in src.splitlines()]


def solution_leaks(source: dict[str, Any], student: dict[str, Any], *, min_chars: int = 12) -> list[str]:
    """The lines of ``source``'s solution cells (at least ``min_chars`` long, not comments) that appear in
    ``student`` (its cells' sources and outputs); empty when nothing leaked."""
    secret = set()
    for c in source["cells"]:
        if "solution" in tags(c):
            for line in _lines(c):
                code = line.split("  #")[0].strip() if c["cell_type"] == "code" else line  # a trailing comment aside
                if len(code) >= min_chars and not code.startswith("#"):
                    secret.add(code)
    if not secret:
        return []
    text = json.dumps(student)
    for c in student["cells"]:
        text += "\n" + "\n".join(_lines(c))
    return sorted(line for line in secret if line in text)


def build_editions(out: str | Path, *, sources: list[Path] | None = None) -> dict[str, list[Path]]:
    """Write ``out/student/<nb>`` and ``out/instructor/<nb>`` for every notebook; refuse a student edition that
    leaks a solution line. Returns the written paths by edition."""
    out = Path(out)
    written: dict[str, list[Path]] = {"student": [], "instructor": []}
    for path in sources if sources is not None else notebook_paths():
        nb = json.loads(Path(path).read_text())
        student, instructor = student_edition(nb), instructor_edition(nb)
        leaks = solution_leaks(nb, student)
        if leaks:
            raise ValueError(f"{path.name}: the student edition would show solution lines: {leaks[:3]}")
        for edition, book in (("student", student), ("instructor", instructor)):
            target = out / edition / Path(path).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(book, indent=1) + "\n")
            written[edition].append(target)
    return written
