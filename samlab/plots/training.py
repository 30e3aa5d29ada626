"""Notebook 04 (ASAM report Fig. 7; ESAM Table 1 and Fig. 3): learning curves, ESAM's beta/gamma study, speed."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..methods import METHOD_COLORS
from .core import finish_axes, legend_outside, new_figure, set_suptitle

__all__ = ["plot_learning_curves", "plot_esam_study", "plot_throughput"]

_OTHER = "#17becf"


def plot_learning_curves(curves: Sequence[dict], *, ncols: int = 3, title: str | None = None,
                         panel_size: tuple[float, float] = (3.6, 2.8)) -> Figure:
    """Notebook 04 (ASAM report Fig. 7): train (dashed) and test (solid) accuracy per epoch, one panel per run.

    ``curves``: dicts with ``label``, ``key`` (colour key, see :data:`samlab.methods.METHOD_COLORS`), ``epoch``,
    ``train_acc`` and ``test_acc`` (fractions; plotted in percent). Panels share both axes; the legend sits
    below them.
    """
    n = len(curves)
    if n == 0:
        raise ValueError("curves is empty: nothing to plot")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(nrows, ncols, panel_size=panel_size, sharex=True, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, curves):
        col = METHOD_COLORS.get(c.get("key", ""), _OTHER)
        ep = np.asarray(c["epoch"])
        ax.plot(ep, 100 * np.asarray(c["train_acc"], dtype=float), ls="--", lw=1.3, color=col, label="train")
        ax.plot(ep, 100 * np.asarray(c["test_acc"], dtype=float), ls="-", lw=1.6, color=col, label="test")
        finish_axes(ax, title=c["label"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for row in axes:
        row[0].set_ylabel("accuracy (%)")
    # one legend for the line styles, in grey (each panel has its own colour)
    fig.legend([Line2D([], [], color="0.3", ls="--", lw=1.3), Line2D([], [], color="0.3", ls="-", lw=1.6)],
               ["train", "test"], loc="outside lower center", ncols=2, fontsize="small")
    set_suptitle(fig, title)
    return fig


def plot_esam_study(study: dict[str, dict], *, references: Sequence[dict] = (), title: str | None = None) -> Figure:
    """Notebook 04 (ESAM Fig. 3): test accuracy (top) and training images/s (bottom) against β (SWP) and γ (SDS).

    ``study[name]``: ``x``, ``acc`` (fractions), ``images_per_s``, ``xlabel``; each name (``SWP``, ``SDS``) is
    its own curve, ``ESAM-<name>``, in its own marker and line style. ``references``: dicts with ``label``,
    ``key``, ``acc``, ``images_per_s`` drawn as dotted horizontal lines (the paper's isolated dots). One
    legend, below the panels, names every curve and reference.
    """
    names = list(study)
    if not names:
        raise ValueError("study is empty: nothing to plot")
    styles = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"))
    fig, axes = new_figure(2, len(names), panel_size=(3.4, 2.6), sharex="col", sharey="row")
    for j, name in enumerate(names):
        s = study[name]
        order = np.argsort(s["x"])
        x = np.asarray(s["x"], dtype=float)[order]
        marker, ls = styles[j % len(styles)]
        for i, (field, scale, ylabel) in enumerate((("acc", 100.0, "test accuracy (%)"),
                                                    ("images_per_s", 1.0, "training speed (images/s)"))):
            ax = axes[i, j]
            y = np.asarray(s[field], dtype=float)[order] * scale
            ax.plot(x, y, marker=marker, ms=4, lw=1.4, ls=ls, color=METHOD_COLORS["esam"], label=f"ESAM-{name}")
            for ref in references:
                ax.axhline(ref[field] * scale, ls=":", lw=1.2, color=METHOD_COLORS.get(ref.get("key", ""), "k"),
                           label=ref["label"])
            finish_axes(ax, ylabel=ylabel if j == 0 else None, xlabel=s["xlabel"] if i == 1 else None,
                        title=f"ESAM-{name}" if i == 0 else None)
    legend_outside(fig, axes[0])
    set_suptitle(fig, title)
    return fig


def plot_throughput(rows: Sequence[dict], *, reference: str = "SAM", title: str | None = None) -> Figure:
    """Notebook 04 (ESAM Table 1): training speed relative to ``reference``, ours and (where given) the paper's.

    ``rows``: dicts with ``label``, ``key``, ``ratio`` (ours, 1.0 = reference) and optional ``paper_ratio``.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    fig, axes = new_figure(1, 1, panel_size=(6.0, 0.45 * len(rows) + 1.2))
    ax = axes[0, 0]
    y = np.arange(len(rows))
    ours = [100 * r["ratio"] for r in rows]
    ax.barh(y + 0.2, ours, height=0.38, color=[METHOD_COLORS.get(r.get("key", ""), _OTHER) for r in rows],
            label="ours")
    paper = [100 * r["paper_ratio"] if r.get("paper_ratio") is not None else np.nan for r in rows]
    ax.barh(y - 0.2, paper, height=0.38, color="white", edgecolor="k", hatch="///", label="paper (ESAM Table 1)")
    for yi, v in zip(y, ours):
        ax.text(v, yi + 0.2, f" {v:.0f}%", va="center", fontsize="x-small")
    ax.axvline(100, color="k", lw=0.8)
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.invert_yaxis()
    finish_axes(ax, xlabel=f"training images/s relative to {reference} (%)")
    legend_outside(fig, [ax])
    set_suptitle(fig, title)
    return fig
