"""Notebook 01 (ASAM report Figs. 2-4): logits and sharpness across positive scaling transformations."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .core import finish_axes, new_figure, readable_log_axis, set_suptitle

__all__ = ["plot_scale_invariance"]


def plot_scale_invariance(logits: np.ndarray, sharpness: dict[str, np.ndarray], *,
                          labels: dict[str, str] | None = None, colors: dict[str, str] | None = None,
                          title: str | None = None) -> Figure:
    """Notebook 01 (ASAM report Figs. 2-4): logits and sharpness across positive scaling transformations.

    ``logits``: (K transformations, n inputs, classes); ``sharpness``: name -> (K,) values of
    L(w + eps) - L(w). Left: the logits of each input (flat lines = same function); middle: each sharpness
    (log axis when all are positive, else symlog); right: each relative to its mean over the K
    transformations (flat at 1 = scale-invariant).
    """
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"logits must have shape (K, n, classes), got {logits.shape}")
    k = np.arange(logits.shape[0])
    fig, axes = new_figure(1, 3, panel_size=(3.3, 2.8))
    ax = axes[0, 0]
    for i in range(logits.shape[1]):
        for c in range(logits.shape[2]):
            ax.plot(k, logits[:, i, c], lw=1, color=f"C{i % 10}", ls="-" if c == 0 else "--")
    finish_axes(ax, xlabel="transformation", ylabel="logit", title="logits of a few inputs")
    positive = True
    for name, values in sharpness.items():
        values = np.asarray(values, dtype=float)
        positive = positive and bool(np.all(values > 0))
        col = (colors or {}).get(name)
        lab = (labels or {}).get(name, name)
        axes[0, 1].plot(k, values, lw=1.2, color=col, label=lab, marker=".", ms=3)
        mean = float(np.mean(values))
        rel = values / mean if mean != 0 else values * np.nan
        axes[0, 2].plot(k, rel, lw=1.2, color=col, label=lab, marker=".", ms=3)
    if positive and sharpness:
        axes[0, 1].set_yscale("log")
        readable_log_axis(axes[0, 1], "y")
    else:
        axes[0, 1].set_yscale("symlog", linthresh=1e-4)
    finish_axes(axes[0, 1], xlabel="transformation", ylabel=r"$L(w+\epsilon)-L(w)$", title="sharpness")
    finish_axes(axes[0, 2], xlabel="transformation", ylabel="sharpness / its mean", title="relative sharpness")
    fig.legend(*axes[0, 2].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    set_suptitle(fig, title)
    return fig
