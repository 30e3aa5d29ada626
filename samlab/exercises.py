"""Checks a student can run on an exercise's answer: right, not right yet (with a hint), or not answered yet.

An exercise in a notebook is three kinds of cells, told apart by their cell tags (:mod:`samlab.course` builds
the student edition by dropping the ``solution`` cells):

* ``exercise``: the question, and a code cell where the student writes the answer, starting as ``answer = ...``;
* ``solution``: the instructor's answer (removed from the student edition);
* ``check``: a call of :func:`check` or :func:`check_choice`, kept in both editions.

A check never raises on a wrong or missing answer (the student edition must run top to bottom): it prints one
line and returns ``True`` (right), ``False`` (not right yet) or ``None`` (not answered yet: the answer is still
``...``). It never prints the expected value. For a multiple-choice question the right option is given as its
:func:`digest`, so that the check cell does not show it.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import numpy as np

__all__ = ["check", "check_choice", "digest", "NOT_ANSWERED"]

#: What an unanswered exercise holds.
NOT_ANSWERED = Ellipsis


def _say(name: str, text: str) -> None:
    print(f"exercise {name}: {text}")


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):                     # a torch tensor
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def check(name: str, answer: Any, expected: Any, *, rtol: float = 1e-4, atol: float = 1e-6,
          hint: str = "") -> bool | None:
    """Compare a numeric answer (number, array or tensor) with ``expected`` within ``rtol``/``atol``.

    Prints ``right``, ``not answered yet`` or ``not right yet`` with what differs (shape; a constant factor or a
    sign, when that is what is wrong) and ``hint``. The expected value itself is never printed."""
    if answer is NOT_ANSWERED or answer is None:
        _say(name, "not answered yet (replace the ... with your answer)")
        return None
    try:
        a, e = _array(answer), _array(expected)
    except (TypeError, ValueError):
        _say(name, f"not right yet: the answer must be a number, array or tensor, got {type(answer).__name__}"
             + (f". Hint: {hint}" if hint else ""))
        return False
    if a.shape != e.shape:
        _say(name, f"not right yet: shape {tuple(a.shape)}, expected shape {tuple(e.shape)}"
             + (f". Hint: {hint}" if hint else ""))
        return False
    if not np.isfinite(a).all():
        _say(name, "not right yet: the answer holds NaN or infinity" + (f". Hint: {hint}" if hint else ""))
        return False
    if np.allclose(a, e, rtol=rtol, atol=atol):
        _say(name, "right")
        return True
    what = "not right yet"
    nz = np.abs(e) > atol
    if nz.any() and (np.abs(a[~nz]) <= atol).all():
        ratio = a[nz] / e[nz]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-3) and math.isfinite(ratio.flat[0]):
            r = float(ratio.flat[0])
            what += (": the sign is flipped" if abs(r + 1) < 1e-3 else
                     f": off by a constant factor (every entry is {r:.3g} times the expected one)")
    _say(name, what + (f". Hint: {hint}" if hint else ""))
    return False


def digest(option: Any) -> str:
    """The digest of a multiple-choice option (what :func:`check_choice` compares; shows nothing of the option)."""
    return hashlib.sha256(str(option).strip().lower().encode()).hexdigest()[:16]


def check_choice(name: str, answer: Any, options: Sequence[Any], right: str, *, hint: str = "") -> bool | None:
    """A multiple-choice answer: one of ``options``; ``right`` is the :func:`digest` of the right one."""
    if answer is NOT_ANSWERED or answer is None:
        _say(name, f"not answered yet (set the answer to one of {list(options)})")
        return None
    if str(answer).strip().lower() not in {str(o).strip().lower() for o in options}:
        _say(name, f"{answer!r} is not one of the options {list(options)}")
        return False
    if digest(answer) == right:
        _say(name, "right")
        return True
    _say(name, "not right yet" + (f". Hint: {hint}" if hint else ""))
    return False
