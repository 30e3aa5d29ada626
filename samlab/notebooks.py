"""Execute the notebooks headless (papermill): the tests at smoke scale, ``make reproduce`` at quick scale.

Parameters are injected into the cell tagged ``parameters``; the notebooks on disk are never edited.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .checks import check_scale
from .extras import require
from .paths import notebooks_dir, project_root


def notebook_paths() -> list[Path]:
    """The suite's notebooks, in reading order (``notebooks/NN_*.ipynb``)."""
    return sorted(p for p in notebooks_dir().glob("[0-9][0-9]*_*.ipynb"))


def select_notebooks(only: str | None) -> list[Path]:
    """The notebooks named by ``only`` (comma-separated numbers, stems or file names, e.g. ``"01,04b"``), in the
    order given; all of them for None or ``""``. ValueError names an item that matches no notebook."""
    paths = notebook_paths()
    if not only:
        return paths
    picked: list[Path] = []
    for w in [w.strip() for w in only.split(",") if w.strip()]:
        match = [p for p in paths if p.stem == w or p.stem.startswith(f"{w}_") or p.name == w]
        if not match:
            raise ValueError(f"--only {w!r} matches no notebook; choose from {', '.join(p.stem for p in paths)}")
        picked += [p for p in match if p not in picked]
    return picked


def run_notebook(path: str | Path, *, scale: str = "quick", parameters: dict[str, Any] | None = None,
                 output: str | Path | None = None, threads: int | None = None,
                 env: dict[str, str] | None = None, progress: bool = True) -> Path:
    """Execute one notebook top to bottom with ``SCALE=scale`` (plus ``parameters``); return the executed copy.

    The executed copy goes to ``output`` (default ``notebooks/_executed/<name>``); the kernel runs in
    the notebook's folder. ``threads`` sets the kernel's OMP/MKL thread count; ``env`` adds variables
    (for example ``SAMLAB_RUNS`` to point the results store elsewhere).
    """
    pm = require("papermill", "running the notebooks headless")  # optional: the notebooks extra
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist")
    check_scale(scale)
    out = Path(output) if output is not None else notebooks_dir() / "_executed" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    params = {"SCALE": scale, **(parameters or {})}
    # the kernel runs in the notebook's folder: it is told the caller's project folder, so that outside a
    # checkout its results and figures land where the command line said they would, not beside the notebook
    env = {"SAMLAB_ROOT": str(project_root()), **(env or {})} if "SAMLAB_ROOT" not in os.environ else env
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", *(env or {}))}
    try:
        if threads is not None:
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(int(threads))
        os.environ.update(env or {})
        pm.execute_notebook(str(path), str(out), parameters=params, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=progress, log_output=False)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out
