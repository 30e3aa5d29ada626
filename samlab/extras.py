"""samlab's optional parts and supported versions: which extra brings which package, one clear line when one is missing.

The core (``pip install samlab``: torch, numpy, scipy, tqdm) holds the optimizer, the trainer, the noise
evaluation, the sharpness measures and the results store. Everything heavier is an extra of ``pyproject.toml``:

* ``data``: torchvision (CIFAR), scikit-learn (the offline digits), mnist1d (MNIST-1D's generator);
* ``analog``: IBM's aihwkit (PCM inference);
* ``notebooks``: matplotlib, seaborn, pandas, ipywidgets, JupyterLab, papermill (plots, widgets, the studies);
* ``cluster``: submitit (sweeps); ``all``: every extra.

A module that needs an extra asks for it with :func:`require` (one package) or :func:`require_extra` (the
whole extra, at the top of a subpackage), so a missing part raises :class:`MissingExtraError` naming the
package and the install command instead of a bare ``ModuleNotFoundError`` deep in an import chain.
:func:`supported_versions` reads the tested windows from the installed package's own metadata, the one
place they are written (``pyproject.toml``); the setup check compares the running versions with them.
"""
from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import platform
from types import ModuleType

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ["EXTRAS", "MissingExtraError", "require", "require_extra", "supported_versions", "version_status",
           "python_version"]

#: extra -> the importable modules it brings (first: the one whose absence is reported).
EXTRAS: dict[str, tuple[str, ...]] = {
    "data": ("torchvision", "sklearn", "mnist1d"),
    "analog": ("aihwkit",),
    "notebooks": ("matplotlib", "seaborn", "pandas", "ipywidgets", "papermill", "jupyter_core"),
    "cluster": ("submitit",),
}
#: importable module -> its distribution's name on PyPI, where they differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


class MissingExtraError(ImportError):
    """An optional part of samlab is not installed; the message names the package and the extra that brings it."""


def _extra_of(module: str) -> str:
    top = module.split(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return extra
    raise ValueError(f"module={module!r} belongs to no extra of samlab; the extras bring "
                     + ", ".join(f"{e}: {', '.join(m)}" for e, m in EXTRAS.items()))


def _message(package: str, extra: str, feature: str) -> str:
    dist = _DISTRIBUTIONS.get(package, package)
    return (f"{feature} needs {dist}, which is not installed: pip install 'samlab[{extra}]' "
            f"(or 'samlab[all]'; in the checkout, `make install` installs everything)")


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (an optional dependency) for ``feature``; MissingExtraError naming the extra if absent."""
    extra = _extra_of(module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        if err.name is None or err.name.split(".")[0] != top:
            raise  # the package is there but something it imports is not: not ours to rename
        raise MissingExtraError(_message(top, extra, feature)) from None


def require_extra(extra: str, feature: str) -> None:
    """Raise MissingExtraError for the first package of ``extra`` that is not installed (nothing is imported)."""
    if extra not in EXTRAS:
        raise ValueError(f"extra={extra!r} is not one of samlab's extras {tuple(EXTRAS)}")
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(_message(module, extra, feature))


def supported_versions() -> dict[str, SpecifierSet]:
    """The tested windows, read from the installed samlab's metadata: ``python`` and each dependency by name."""
    meta = metadata.metadata("samlab")
    out = {"python": SpecifierSet(meta.get("Requires-Python") or "")}
    for line in metadata.requires("samlab") or []:
        req = Requirement(line)
        if req.specifier and req.name not in out:
            out[req.name] = req.specifier
    return out


def version_status(name: str, version: str | None, windows: dict[str, SpecifierSet] | None = None) -> str:
    """``"ok"``, ``"outside"`` the tested window, ``"missing"`` (version None) or ``"untested"`` (no window)."""
    windows = supported_versions() if windows is None else windows
    if version is None:
        return "missing"
    if name not in windows:
        return "untested"
    return "ok" if windows[name].contains(Version(version).base_version, prereleases=True) else "outside"


def python_version() -> str:
    """The running Python's version (``3.12.1``)."""
    return platform.python_version()
