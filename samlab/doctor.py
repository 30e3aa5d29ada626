"""The setup check: ``python -m samlab doctor`` and notebook 00 say in one screen what works and what to do.

Each check returns a :class:`Check` (name, ok, detail, advice). A failed check marked ``required`` is a real
problem (the command exits with status 1 and names it); the others are notes: no CUDA, or no CIFAR files
(the offline digits stand in), only change speed or which data set is used.
"""
from __future__ import annotations

import html
import importlib.metadata as metadata
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import paths
from .extras import python_version, supported_versions, version_status

__all__ = ["Check", "Report", "WIDGET_PROTOCOL", "CIFAR_FILES", "VERSIONED", "check_versions", "check_widgets",
           "check_aihwkit", "check_torch", "check_data", "check_paths", "run_checks", "report", "widget_probe", "main"]


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``ok`` False with ``required`` True is a real problem; ``advice`` says what to do."""

    name: str
    ok: bool
    detail: str
    advice: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        """``ok``, ``PROBLEM`` (required and failed) or ``note`` (failed but samlab works around it)."""
        return "ok" if self.ok else ("PROBLEM" if self.required else "note")


#: jupyterlab_widgets major version -> the ipywidgets major version its JupyterLab extension renders.
WIDGET_PROTOCOL = {1: 7, 3: 8}

#: The files torchvision's CIFAR loaders expect under ``data_dir()/<name>/``.
CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                                         "data_batch_5", "test_batch", "batches.meta")),
    "cifar100": ("cifar-100-python", ("train", "test", "meta")),
}

_EXTENSION = Path("@jupyter-widgets") / "jupyterlab-manager"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def _labextension_dirs() -> list[Path]:
    """Where JupyterLab looks for prebuilt extensions (``share/jupyter/labextensions`` on Jupyter's data path)."""
    try:
        from jupyter_core.paths import jupyter_path

        return [Path(p) for p in jupyter_path("labextensions")]
    except ImportError:
        return [Path(sys.prefix) / "share" / "jupyter" / "labextensions"]


def _find_extension(folders: list[Path]) -> tuple[Path, str] | None:
    for folder in folders:
        pkg = folder / _EXTENSION / "package.json"
        if pkg.is_file():
            try:
                return pkg.parent, str(json.loads(pkg.read_text(encoding="utf-8")).get("version", "?"))
            except (OSError, ValueError):
                return pkg.parent, "?"
    return None


def check_widgets(*, version: Callable[[str], str | None] = _version,
                  extension_dirs: Callable[[], list[Path]] = _labextension_dirs) -> Check:
    """JupyterLab can show samlab's widgets: jupyterlab_widgets' extension is installed and speaks ipywidgets' major."""
    name = "JupyterLab widgets"
    ipyw, labw, lab = version("ipywidgets"), version("jupyterlab_widgets"), version("jupyterlab")
    fix = f"{sys.executable} -m pip install 'ipywidgets>=8,<9' 'jupyterlab_widgets>=3,<4', then restart JupyterLab"
    if ipyw is None:
        return Check(name, False, "ipywidgets is not installed in this kernel", fix)
    if labw is None:
        return Check(name, False, f"ipywidgets {ipyw} but no jupyterlab_widgets: sliders show as text "
                     "'IntSlider(...)' or 'Error displaying widget'", fix)
    found = _find_extension(extension_dirs())
    if found is None:
        return Check(name, False, f"jupyterlab_widgets {labw} is installed but its JupyterLab extension "
                     f"({_EXTENSION}) is in no labextensions folder: widgets show as text", fix)
    speaks = WIDGET_PROTOCOL.get(_major(labw))
    if speaks != _major(ipyw):
        return Check(name, False, f"jupyterlab_widgets {labw} renders ipywidgets {speaks or '?'}.x but the kernel "
                     f"has ipywidgets {ipyw}: 'Error displaying widget: model not found'", fix)
    return Check(name, True, f"ipywidgets {ipyw}, jupyterlab_widgets {labw} (extension {found[1]}), "
                 f"JupyterLab {lab or 'not installed here'}",
                 "" if lab else "this Python has no JupyterLab; run `make lab` to use the project's")


#: What the versions check names: Python and the packages whose version windows matter most.
VERSIONED = ("python", "torch", "torchvision", "aihwkit", "ipywidgets")
_REINSTALL = "make clean-venv install (the lock's versions), or pip install 'samlab[all]' into a Python 3.12/3.13 venv"


def check_versions(*, version: Callable[[str], str | None] = _version, python: str | None = None) -> Check:
    """Python, torch, torchvision, aihwkit and ipywidgets against the windows samlab was tested in (its metadata)."""
    try:
        windows = supported_versions()
    except metadata.PackageNotFoundError:
        return Check("versions", False, "samlab is imported from a folder, not installed: no version windows to check",
                     "make install (or pip install -e .)", required=False)
    found = {name: (python or python_version()) if name == "python" else version(name) for name in VERSIONED}
    status = {name: version_status(name, ver, windows) for name, ver in found.items()}
    window = {name: str(windows.get(name, "")) or "any" for name in found}
    detail = ", ".join(f"{name} {ver or '-'}"
                       + ("" if status[name] == "ok" else f" ({status[name]}; tested {window[name]})")
                       for name, ver in found.items())
    outside = [f"{name} {ver} is outside {window[name]}" for name, ver in found.items() if status[name] == "outside"]
    if status["python"] == "outside":
        return Check("versions", False, detail, "samlab needs Python " + str(windows["python"]) + ": " + _REINSTALL)
    if outside:
        return Check("versions", False, detail, "; ".join(outside) + ": " + _REINSTALL, required=False)
    return Check("versions", True, detail + " (all inside the tested windows; '-' = not installed, an optional extra)")


def _aihwkit_forward() -> str:
    """Build a 4->3 analog layer with aihwkit's inference tile and run one forward pass; return a short summary."""
    import torch
    from aihwkit.nn import AnalogLinear
    from aihwkit.simulator.configs import InferenceRPUConfig

    layer = AnalogLinear(4, 3, bias=False, rpu_config=InferenceRPUConfig())
    y = layer(torch.ones(2, 4))
    if tuple(y.shape) != (2, 3) or not bool(torch.isfinite(y).all()):
        raise RuntimeError(f"the tile's forward returned {tuple(y.shape)} / non-finite values")
    return "AnalogLinear(4, 3) with InferenceRPUConfig: forward ok"


def check_aihwkit(*, forward: Callable[[], str] = _aihwkit_forward,
                  version: Callable[[str], str | None] = _version) -> Check:
    """aihwkit builds and runs a compiled tile (not just imports: with a torch it was not built for, the first tile
    operation fails)."""
    name = "aihwkit tile"
    fix = "pip install 'samlab[analog]' (aihwkit 1.2 with torch 2.14-2.15), or make clean-venv install"
    akw, torch_v = version("aihwkit"), version("torch")
    if akw is None:
        return Check(name, False, "aihwkit is not installed", fix)
    try:
        detail = forward()
    except Exception as err:  # noqa: BLE001 - any failure is reported, with the torch version it came with
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = (" (aihwkit's compiled tiles need the torch it was built for: aihwkit 1.2 runs with torch 2.14-2.15)"
                if "CPU tensor" in msg or "undefined symbol" in msg else "")
        return Check(name, False, f"aihwkit {akw} with torch {torch_v}: {type(err).__name__}: {msg}{hint}", fix)
    return Check(name, True, f"aihwkit {akw}, torch {torch_v}: {detail}")


def check_torch() -> Check:
    """torch's version, CPU threads and device (CUDA is optional: it only changes speed)."""
    try:
        import torch
    except ImportError as err:
        return Check("torch", False, f"torch does not import: {err}",
                     "make clean-venv install (reinstalls the lock's torch)")
    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        return Check("torch", True, f"torch {torch.__version__}, {threads} CPU threads, device cuda "
                     f"({torch.cuda.get_device_name(0)})")
    return Check("torch", True, f"torch {torch.__version__}, {threads} CPU threads, device cpu (no CUDA)",
                 "quick scale runs on a CPU; paper scale needs a GPU", required=False)


def check_data(name: str = "cifar10") -> Check:
    """The CIFAR files torchvision expects under ``data_dir()/name``; missing ones mean the offline digits stand in."""
    folder, files = CIFAR_FILES[name]
    where = paths.data_dir() / name / folder
    missing = [f for f in files if not (where / f).is_file()]
    label = name.upper().replace("CIFAR", "CIFAR-")
    if not missing:
        return Check(label, True, f"present in {where}")
    what = "absent" if len(missing) == len(files) else f"incomplete (lacks {', '.join(missing)})"
    return Check(label, False, f"{what} in {where}: the offline digits data set stands in (said in every title)",
                 f"python -m samlab data {name} (needs a network), or extract the torchvision archive there",
                 required=False)


def _writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def check_paths() -> Check:
    """Where results and figures are written, and that those folders can be written."""
    runs, figures = paths.runs_dir(), paths.figures_dir()
    detail = f"results: {runs}  figures: {figures}  (data: {paths.data_dir()})"
    bad = [str(p) for p in (runs, figures) if not _writable(p)]
    if bad:
        return Check("results and figures", False, f"cannot write {', '.join(bad)}; {detail}",
                     "set SAMLAB_RUNS / SAMLAB_FIGURES (or SAMLAB_ROOT) to writable folders")
    return Check("results and figures", True, detail)


def run_checks() -> list[Check]:
    """Every check, in the order the report shows them."""
    return [check_versions(), check_widgets(), check_aihwkit(), check_torch(), check_data("cifar10"),
            check_data("cifar100"), check_paths()]


@dataclass(frozen=True)
class Report:
    """The checks as one table: text for the terminal, HTML in a notebook."""

    checks: tuple[Check, ...]

    @property
    def problems(self) -> list[Check]:
        """The failed checks that are real problems (the command line exits with 1 when there is one)."""
        return [c for c in self.checks if c.status == "PROBLEM"]

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = [f"samlab setup check ({paths.project_root()})"]
        for c in self.checks:
            lines.append(f"{c.status:7s}  {c.name:{width}s}  {c.detail}")
            if c.advice and not c.ok:
                lines.append(f"{'':7s}  {'':{width}s}  -> {c.advice}")
        lines.append("no problems" if not self.problems else
                     f"{len(self.problems)} problem(s): {', '.join(c.name for c in self.problems)}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"ok": "#1b7a1b", "note": "#8a6d00", "PROBLEM": "#b00020"}
        rows = "".join(
            f"<tr><td style='color:{colour[c.status]};font-weight:bold'>{c.status}</td><td>{html.escape(c.name)}</td>"
            f"<td style='text-align:left'>{html.escape(c.detail)}"
            + (f"<br><i>&rarr; {html.escape(c.advice)}</i>" if c.advice and not c.ok else "") + "</td></tr>"
            for c in self.checks)
        summary = ("no problems" if not self.problems else
                   f"{len(self.problems)} problem(s): {', '.join(html.escape(c.name) for c in self.problems)}")
        return (f"<table><thead><tr><th>status</th><th>check</th><th style='text-align:left'>detail</th></tr>"
                f"</thead><tbody>{rows}</tbody></table><p><b>{summary}</b></p>")


def report(checks: list[Check] | None = None) -> Report:
    """Run the checks (or take ``checks``) and return the table; a notebook shows it as HTML."""
    return Report(tuple(run_checks() if checks is None else checks))


def widget_probe() -> Any:
    """A green line drawn as a widget: notebook 00 shows it, so a JupyterLab that cannot render widgets shows text."""
    import ipywidgets  # optional dependency: ipywidgets (the notebooks extra); the doctor itself runs without it

    return ipywidgets.HTML("<b style='color:#1b7a1b'>widgets render here</b>")


def main() -> int:
    """``python -m samlab doctor``: print the table; exit status 1 only when a required check failed."""
    rep = report()
    print(rep)
    return 1 if rep.problems else 0
