"""Loss-landscape figures (ESAM Fig. 4 / A.5 style): filled contours, 3-D surfaces and 1-D slices.

Input: the dicts of :func:`samlab.sharpness.loss_landscape` (``coords``, ``loss``, ``dims``, ``kind``). Several results
(one per model compared) share one colour/height scale so the panels can be read against each other. Figures are
bare :class:`matplotlib.figure.Figure` objects, never registered with pyplot. Nothing computational imports
this module.
"""
from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .core import SamlabFigure

__all__ = ["plot_landscape_contour", "plot_landscape_surface", "plot_landscape_1d", "landscape_figures"]


def _as_list(results: Mapping | Sequence[Mapping], labels: Sequence[str] | None) -> tuple[list, list[str]]:
    results = [results] if isinstance(results, Mapping) else list(results)
    if not results:
        raise ValueError("results is empty: pass one landscape dict or a list of them")
    if labels is None:
        labels = [str(r.get("label", f"model {i + 1}")) for i, r in enumerate(results)]
    labels = list(labels)
    if len(labels) != len(results):
        raise ValueError(f"labels has {len(labels)} entries for {len(results)} results")
    return results, labels


def _axis_names(result: Mapping) -> tuple[str, str]:
    if result.get("kind") == "adversarial":
        return r"$\alpha$ along $\eta\nabla L_{B_x}$", r"$\beta$ along $\eta\nabla L_{B_y}$"
    return r"$\alpha$ (filter-normalised direction 1)", r"$\beta$ (filter-normalised direction 2)"


def _grids(results: list, dims: int) -> list[np.ndarray]:
    out = []
    for r in results:
        if int(r.get("dims", 0)) != dims:
            raise ValueError(f"this plot needs {dims}-D landscapes; got dims={r.get('dims')!r}")
        out.append(np.asarray(r["loss"], dtype=float))
    return out


def _value(z: np.ndarray, log: bool) -> np.ndarray:
    return np.log10(np.maximum(z, 1e-12)) if log else z


def _range(zs: list[np.ndarray], k: int, shared: bool) -> tuple[float, float]:
    pool = zs if shared else [zs[k]]
    lo, hi = min(float(z.min()) for z in pool), max(float(z.max()) for z in pool)
    return lo, (hi if hi > lo else lo + 1e-9)


def plot_landscape_contour(results: Mapping | Sequence[Mapping], *, labels: Sequence[str] | None = None,
                           levels: int = 20, log: bool = False, shared_scale: bool = True,
                           panel_size: tuple[float, float] = (3.6, 3.2), title: str | None = None) -> Figure:
    """One filled-contour panel per 2-D landscape (``log``: log10 loss). ``shared_scale``: one colour scale and
    colour bar for all panels (models compared); otherwise one per panel (a flat adversarial slice next to a
    random one)."""
    results, labels = _as_list(results, labels)
    zs = [_value(z, log) for z in _grids(results, 2)]
    extra = 0.8 if shared_scale else 0.8 * len(results)
    fig = SamlabFigure(figsize=(panel_size[0] * len(results) + extra, panel_size[1]), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(results), squeeze=False)[0])
    cbar_label = "log$_{10}$ loss" if log else "loss (cross-entropy)"
    filled = None
    for k, (ax, r, z, label) in enumerate(zip(axes, results, zs, labels)):
        bounds = np.linspace(*_range(zs, k, shared_scale), levels + 1)
        c = np.asarray(r["coords"], dtype=float)
        a, b = np.meshgrid(c, c, indexing="ij")          # loss[i][j] is at (coords[i], coords[j])
        filled = ax.contourf(a, b, z, levels=bounds, cmap="viridis")
        ax.contour(a, b, z, levels=bounds[::2], colors="white", linewidths=0.4, alpha=0.6)
        ax.plot([0], [0], marker="+", color="red", markersize=8)
        xl, yl = _axis_names(r)
        ax.set(xlabel=xl, ylabel=yl, title=label, aspect="equal")
        if not shared_scale:
            fig.colorbar(filled, ax=ax, shrink=0.9).set_label(cbar_label)
    if shared_scale:
        fig.colorbar(filled, ax=list(axes), shrink=0.9).set_label(cbar_label)
    if title:
        fig.suptitle(title)
    return fig


def plot_landscape_surface(results: Mapping | Sequence[Mapping], *, labels: Sequence[str] | None = None,
                           log: bool = False, shared_scale: bool = True,
                           panel_size: tuple[float, float] = (3.8, 3.4), title: str | None = None,
                           elev: float = 30.0, azim: float = -60.0) -> Figure:
    """One 3-D surface panel per 2-D landscape; ``shared_scale``: the same height range on every panel."""
    results, labels = _as_list(results, labels)
    zs = [_value(z, log) for z in _grids(results, 2)]
    fig = SamlabFigure(figsize=(panel_size[0] * len(results), panel_size[1]), layout="constrained")
    for k, (r, z, label) in enumerate(zip(results, zs, labels)):
        lo, hi = _range(zs, k, shared_scale)
        ax = fig.add_subplot(1, len(results), k + 1, projection="3d")
        c = np.asarray(r["coords"], dtype=float)
        a, b = np.meshgrid(c, c, indexing="ij")
        ax.plot_surface(a, b, z, cmap="viridis", vmin=lo, vmax=hi, linewidth=0, antialiased=True)
        ax.set_zlim(lo, hi)
        ax.set(xlabel=r"$\alpha$", ylabel=r"$\beta$", title=label)
        ax.set_zlabel("log$_{10}$ loss" if log else "loss", labelpad=10)
        ax.view_init(elev=elev, azim=azim)
    if title:
        fig.suptitle(title)
    return fig


def plot_landscape_1d(results: Mapping | Sequence[Mapping], *, labels: Sequence[str] | None = None,
                      colors: Sequence[str] | None = None, log: bool = False,
                      panel_size: tuple[float, float] = (4.2, 3.0), title: str | None = None) -> Figure:
    """1-D landscapes on one axes: loss against the step along the direction, one line per model."""
    results, labels = _as_list(results, labels)
    zs = _grids(results, 1)
    fig = SamlabFigure(figsize=panel_size, layout="constrained")
    ax = fig.subplots()
    for k, (r, z, label) in enumerate(zip(results, zs, labels)):
        color = None if colors is None else colors[k]
        ax.plot(np.asarray(r["coords"], dtype=float), z, label=label, color=color)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=_axis_names(results[0])[0], ylabel="loss (cross-entropy)", title=title)
    ax.legend(frameon=False)
    return fig


def landscape_figures(study: Mapping[str, Any]) -> dict[str, Figure]:
    """Notebook 06's landscape figures (file stem -> figure) from
    :func:`samlab.experiments.sharpness_robustness.landscape_study`: 1-D random slices, 2-D random contours on a
    log colour scale (the rim's high loss would otherwise make the basin one blob) and surfaces, and 2-D
    adversarial contours (ESAM A.5); every figure's panels share one colour scale, so models compare at a glance."""
    labels, titles = study["labels"], study["titles"]
    return {"06_landscape_1d": plot_landscape_1d(study["land1"], labels=labels, colors=study["colors"],
                                                 title="1-D loss slices\n" + textwrap.fill(titles["random"], 60),
                                                 panel_size=(6.0, 4.2)),
            "06_landscape_contour": plot_landscape_contour(study["land2"], labels=labels, log=True,
                                                           title="loss landscapes\n" + titles["random"]),
            "06_landscape_surface": plot_landscape_surface(study["land2"], labels=labels,
                                                           title="loss surfaces\n" + titles["random"]),
            "06_landscape_adversarial": plot_landscape_contour(
                study["adv2"], labels=labels, log=True,
                title="adversarial loss landscapes\n" + titles["adversarial"])}
