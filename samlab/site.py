"""The static site of the suite (``make site``): every notebook as ``make reproduce`` executed it, its student
edition, the claims ledger, installing and running, and the library's API reference, built offline by Sphinx.

Why Sphinx with myst-nb and sphinx-book-theme: myst-nb reads the executed notebooks with their outputs as they
are (``nb_execution_mode = "off"``: nothing runs again), MyST's ``dollarmath`` renders the notebooks' ``$...$``
with MathJax, which ``sphinx-mathjax-offline`` copies into the site (no CDN), autodoc reads the docstrings, and
the theme ships its own fonts and scripts. All are pure-Python wheels on PyPI, so ``make install`` installs
them from the lock. (Jupyter Book 2 builds with a Node.js toolchain beside Python; mkdocs-jupyter has no
autodoc of its own; Quarto is a separate binary.)

A static page cannot run a kernel, so an explorer cannot recompute. :func:`static_notebook` replaces each widget
view by what its ``Output`` widgets held when the notebook was saved (the figure as last drawn, its text) and a
one-line pointer to the notebook, and drops the saved widget state (a page holding it would load the widget
scripts from a CDN). The student pages are the student edition (:func:`samlab.course.student_edition`) of the
executed notebook: solution cells removed, the checks' outputs (which said "right" with the solutions in)
replaced by a line saying what the check does.
"""
from __future__ import annotations

import copy
import json
import pkgutil
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .course import solution_leaks, student_edition, tags
from .paths import figures_dir, project_root

__all__ = ["static_notebook", "student_page", "widget_outputs", "api_modules", "build_site", "POINTER"]

#: What an explorer's figure says on a static page, after the figure.
POINTER = ("Interactive in JupyterLab: open notebooks/{name} (make lab) to move the controls; "
           "this is the figure as the notebook last drew it.")
_VIEW = "application/vnd.jupyter.widget-view+json"
_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL = re.compile(r"^IPY_MODEL_(\S+)$")


def widget_outputs(model_id: str, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The outputs held by every ``Output`` widget under the widget ``model_id`` (its children, depth first, in
    order), from a notebook's saved widget state (``state``: model id -> model)."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()

    def walk(mid: str) -> None:
        if mid in seen or mid not in state:
            return
        seen.add(mid)
        model = state[mid]
        if model.get("model_name") == "OutputModel":
            found.extend(copy.deepcopy(model.get("state", {}).get("outputs", [])))
        for child in model.get("state", {}).get("children", []):
            m = _MODEL.match(str(child))
            if m:
                walk(m.group(1))

    walk(model_id)
    return found


def _progress_bar(output: dict[str, Any]) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr" and "\r" in "".join(
        output.get("text", ""))


def static_notebook(nb: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of an executed notebook for a static page: each widget view replaced by the outputs its Output
    widgets held (the explorer's figure) and :data:`POINTER`; the widget state and progress bars dropped."""
    nb = copy.deepcopy(nb)
    state = nb.get("metadata", {}).pop("widgets", {}).get(_STATE, {}).get("state", {})
    pointer = {"output_type": "display_data", "metadata": {},
               "data": {"text/html": f"<p><em>{POINTER.format(name=name)}</em></p>",
                        "text/plain": POINTER.format(name=name)}}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(_VIEW)
            if view is not None:
                shown = [o for o in widget_outputs(view.get("model_id", ""), state) if not _progress_bar(o)]
                outputs += [*shown, pointer]
            elif not _progress_bar(out):
                outputs.append(out)
        cell["outputs"] = outputs
    return nb


def student_page(executed: dict[str, Any], name: str) -> dict[str, Any]:
    """The student edition of an executed notebook for a static page: :func:`static_notebook` without the
    solution cells, each check's output replaced by what it tells a student who runs it."""
    nb = static_notebook(executed, name)
    page = student_edition(nb)                 # (strips every output: put back all but the checks')
    for cell, original in zip([c for c in nb["cells"] if "solution" not in tags(c)], page["cells"]):
        if original["cell_type"] != "code":
            continue
        original["outputs"] = cell.get("outputs") or []
        original["execution_count"] = cell.get("execution_count")
        if "check" in tags(original):
            text = ("Run this cell after your answer: it prints right, not right yet (with a hint) or not "
                    "answered yet.")
            original["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text + "\n"}]
    leaks = solution_leaks(executed, page)
    if leaks:
        raise ValueError(f"{name}: the student page would show solution lines: {leaks[:3]}")
    return page


def api_modules() -> list[str]:
    """The public modules of the package (no ``_private`` module, no ``__main__``), sorted."""
    import samlab  # the package itself: its modules are listed, not imported here

    names = ["samlab"]
    for info in pkgutil.walk_packages(samlab.__path__, prefix="samlab."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _page(title: str, body: str) -> str:
    return f"# {title}\n\n{body.strip()}\n"


def _stage(notebooks: Path, src: Path, ledger: Path | None) -> dict[str, list[str]]:
    """Write the Sphinx source tree ``src``: conf.py and the pages from ``docs/``, the README's install section,
    the notebooks (as executed, and the student editions), the ledger and the API page."""
    root = project_root()
    docs = root / "docs"
    if not (docs / "conf.py").is_file():
        raise FileNotFoundError(f"{docs}/conf.py is missing: the site's sources live in the repository's docs/")
    shutil.copytree(docs, src, dirs_exist_ok=True)
    shutil.copyfile(root / "README.md", src / "_readme.md")
    pages: dict[str, list[str]] = {"notebooks": [], "student": []}
    for path in sorted(notebooks.glob("[0-9]*.ipynb")):
        executed = json.loads(path.read_text())
        for part, book in (("notebooks", static_notebook(executed, path.name)),
                           ("student", student_page(executed, path.name))):
            (src / part).mkdir(exist_ok=True)
            (src / part / path.name).write_text(json.dumps(book, indent=1) + "\n")
            pages[part].append(f"{part}/{path.stem}")
    if not pages["notebooks"]:
        raise FileNotFoundError(f"no executed notebook (NN_*.ipynb) in {notebooks}: run `make reproduce` first "
                                "(it writes notebooks/_executed/), or pass the folder that holds them")
    toc = "\n".join(pages["notebooks"])
    (src / "notebooks.md").write_text(_page("The notebooks", f"""
Each page is a notebook as `make reproduce` executed it: its figures, equations, tables and printed takeaways.
An explorer shows the figure it last drew; open the notebook in JupyterLab (`make lab`) to move its controls.

```{{toctree}}
:maxdepth: 1

{toc}
```"""))
    toc = "\n".join(pages["student"])
    (src / "student.md").write_text(_page("Student edition", f"""
The same notebooks without the exercises' solutions: each exercise asks, the student answers in the cell below
it and runs the check, which says right, not right yet (with a hint) or not answered yet. `make course` writes
these editions as notebooks to run.

```{{toctree}}
:maxdepth: 1

{toc}
```"""))
    if ledger is not None and ledger.is_file():
        text = ledger.read_text()
        text = text if text.lstrip().startswith("#") else _page("Claims ledger", text)
    else:
        text = _page("Claims ledger", "No ledger yet: `make reproduce` writes `figures/claims_ledger.md`.")
    (src / "ledger.md").write_text(text)
    mods = "\n".join(f"```{{eval-rst}}\n.. automodule:: {m}\n   :members:\n```\n" for m in api_modules())
    (src / "api.md").write_text(_page("API reference", "Every public module of `samlab`, from its docstrings.\n\n"
                                      + mods))
    return pages


def build_site(notebooks: str | Path, out: str | Path, *, ledger: str | Path | None = None,
               quiet: bool = True) -> dict[str, Any]:
    """Build the site into ``out`` (HTML, ``out/index.html``) from the executed notebooks in ``notebooks``
    (``make reproduce`` writes ``notebooks/_executed``) and ``ledger`` (default ``figures/claims_ledger.md``).

    Returns ``{"seconds", "pages", "warnings", "out"}``; raises ``FileNotFoundError`` (naming ``make
    reproduce``) when no executed notebook is there, ``RuntimeError`` with Sphinx's output when it fails.
    The source tree is staged in ``<out>-src`` (replaced on every build).
    """
    notebooks, out = Path(notebooks), Path(out)
    if not notebooks.is_dir():
        raise FileNotFoundError(f"{notebooks} is not a folder of executed notebooks: run `make reproduce` first")
    ledger = Path(ledger) if ledger is not None else figures_dir() / "claims_ledger.md"
    start = time.perf_counter()
    src = out.parent / f"{out.name}-src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    pages = _stage(notebooks, src, ledger)
    if out.exists():
        shutil.rmtree(out)
    log = out.parent / f"{out.name}-warnings.txt"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-w", str(log), *(["-q"] if quiet else []),
           str(src), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sphinx failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    warnings = [w for w in log.read_text().splitlines() if "WARNING" in w] if log.exists() else []
    return {"seconds": time.perf_counter() - start, "pages": pages, "warnings": warnings, "out": out}
