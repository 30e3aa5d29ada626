"""Notebook 03 (ASAM report Figs. 5-6): the 2-D data set and test error against test variance."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..checks import check_choice
from .core import finish_axes, legend_outside, new_figure, set_suptitle

__all__ = ["plot_variance_gallery", "plot_generalization_curves"]



def plot_variance_gallery(samples: Sequence[tuple[float, np.ndarray, np.ndarray]], *,
                          ncols: int = 3, lim: float | None = None) -> Figure:
    """Notebook 03 (ASAM report Fig. 6): scatter of the 2-D data set for several variances.

    ``samples``: (variance, X of shape (n, 2), y of shape (n,)) triples.
    """
    n = len(samples)
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = new_figure(nrows, min(ncols, n), panel_size=(2.6, 2.6), sharex=True, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (var, x, y) in zip(axes.flat, samples):
        x, y = np.asarray(x), np.asarray(y)
        for cls, col in ((0, "#1f77b4"), (1, "#d62728")):
            sel = y == cls
            ax.scatter(x[sel, 0], x[sel, 1], s=2, alpha=0.5, color=col, label=f"class {cls}", rasterized=True)
        if lim is not None:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        finish_axes(ax, title=rf"$\sigma^2 = {var:g}$")
    legend_outside(fig, axes.flat[:1], markerscale=4)
    return fig


def plot_generalization_curves(test_variances: Sequence[float], curves: dict[float, dict[str, np.ndarray]], *,
                               labels: dict[str, str] | None = None, colors: dict[str, str] | None = None,
                               band: str = "min-max", ncols: int | None = None,
                               reference: Sequence[float] | None = None,
                               reference_label: str = "Bayes error", title: str | None = None,
                               panel_size: tuple[float, float] | None = None) -> Figure:
    """Notebook 03 (ASAM report Fig. 5a-e): test error against test variance, one panel per training variance.

    ``curves[train_variance][method]`` is an array (seeds, len(test_variances)) of test errors; the line is
    the mean over seeds and the band spans ``band`` (``'min-max'`` or ``'std'``: mean +- one standard deviation).
    ``reference`` (one value per test variance, e.g. the Bayes error) is drawn as a dashed black line. The
    legend sits below the panels; ``panel_size`` defaults to 3.0 x 2.6 inches, 6.0 x 3.2 for a single
    panel (the explorer: 480 px wide at 80 dpi).
    """
    check_choice("band", band, ("min-max", "std"))
    tv = np.asarray(test_variances, dtype=float)
    n = len(curves)
    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    size = panel_size or ((6.0, 3.2) if n == 1 else (3.0, 2.6))
    fig, axes = new_figure(nrows, ncols, panel_size=size, sharex=True, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (train_var, per_method) in zip(axes.flat, curves.items()):
        for name, errs in per_method.items():
            errs = np.atleast_2d(np.asarray(errs, dtype=float)) * 100
            mean = errs.mean(axis=0)
            if band == "std":
                lo, hi = mean - errs.std(axis=0), mean + errs.std(axis=0)
            else:
                lo, hi = errs.min(axis=0), errs.max(axis=0)
            col = (colors or {}).get(name)
            ax.plot(tv, mean, lw=1.4, color=col, label=(labels or {}).get(name, name))
            if errs.shape[0] > 1:
                ax.fill_between(tv, lo, hi, color=col, alpha=0.18, linewidth=0)
        if reference is not None:
            ax.plot(tv, np.asarray(reference, dtype=float) * 100, color="k", lw=0.9, ls="--", label=reference_label)
        ax.axvline(train_var, color="k", lw=0.8, ls=":")
        finish_axes(ax, xlabel=r"test variance $\sigma^2$", title=rf"trained on $\sigma^2 = {train_var:g}$")
    for row in axes:
        row[0].set_ylabel("test error (%)")
    legend_outside(fig, axes.flat[:1])
    set_suptitle(fig, title)
    return fig
