"""Where samlab reads data and writes results and figures.

The project folder is found from the working directory, never from where the package is installed, so a
non-editable install does not write into site-packages:

1. ``$SAMLAB_ROOT`` if set;
2. else the nearest folder at or above the working directory that holds samlab's ``pyproject.toml``
   (a notebook runs in ``notebooks/``, the command line anywhere inside the checkout);
3. else the working directory itself.

Each folder can be moved on its own: ``$SAMLAB_DATA`` (data sets), ``$SAMLAB_RUNS`` (the results store),
``$SAMLAB_FIGURES``. Everything is computed at call time, so a changed variable takes effect at once.
:func:`describe` says in one line where things go; :func:`atomic_write` is how every file there is written.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

__all__ = ["project_root", "data_dir", "runs_dir", "figures_dir", "notebooks_dir", "describe", "atomic_write"]

_PROJECT_RE = re.compile(r'^\s*name\s*=\s*"samlab"\s*$', re.MULTILINE)


def _is_project(folder: Path) -> bool:
    try:
        return bool(_PROJECT_RE.search((folder / "pyproject.toml").read_text(encoding="utf-8")))
    except OSError:
        return False


def project_root() -> Path:
    """The project folder: ``$SAMLAB_ROOT``, else the samlab checkout holding the working directory, else it."""
    env = os.environ.get("SAMLAB_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_project(folder):
            return folder
    return cwd


def data_dir() -> Path:
    """Where datasets live (``$SAMLAB_DATA`` or ``<root>/data``)."""
    return Path(os.environ.get("SAMLAB_DATA") or project_root() / "data")


def runs_dir() -> Path:
    """The results store (``$SAMLAB_RUNS`` or ``<data>/runs``)."""
    return Path(os.environ.get("SAMLAB_RUNS") or data_dir() / "runs")


def figures_dir() -> Path:
    """Where figures are written (``$SAMLAB_FIGURES`` or ``<root>/figures``)."""
    return Path(os.environ.get("SAMLAB_FIGURES") or project_root() / "figures")


def notebooks_dir() -> Path:
    """The notebooks folder of the project (``<root>/notebooks``)."""
    return project_root() / "notebooks"


def describe() -> str:
    """One line: where data, results and figures go (printed by the command line and the setup check)."""
    return f"data: {data_dir()}  results: {runs_dir()}  figures: {figures_dir()}"


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], Any], mode: str = "wb") -> None:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, sync it, then rename it onto ``path``.

    A reader sees the old file or the new one, never a half-written one (an interrupt or a full disk leaves
    ``path`` as it was and removes the temporary file). ``mode``: ``"w"`` (text) or ``"wb"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
