"""Notebook 01 (ASAM report Figs. 2-4): logits and sharpness across positive scaling transformations."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .blitting import enable_blitting, set_moving_artists
from .core import SamlabFigure, finish_axes, new_figure, readable_log_axis, set_suptitle

__all__ = ["plot_scale_invariance"]

#: The explorer's figure (``fixed_layout``), in inches: size, each panel's left margin (ticks and y label), the
#: legend's column at the right, the bottom (x ticks and label) and top (suptitle and panel title) margins.
_FIXED = {"size": (9.9, 3.2), "left": 0.78, "gap": 0.12, "legend": 1.0, "bottom": 0.5, "top": 0.62}
_SLOTS = 4      # sharpness lines the explorer's figure holds: SAM, ASAM, SAMSON_p, SAMSON_inf


def plot_scale_invariance(logits: np.ndarray, sharpness: dict[str, np.ndarray], *,
                          labels: dict[str, str] | None = None, colors: dict[str, str] | None = None,
                          title: str | None = None, fig: Figure | None = None, fixed_layout: bool = False) -> Figure:
    """Notebook 01 (ASAM report Figs. 2-4): logits and sharpness across positive scaling transformations.

    ``logits``: (K transformations, n inputs, classes); ``sharpness``: name -> (K,) values of
    L(w + eps) - L(w). Left: the logits of each input (flat lines = same function); middle: each sharpness
    (log axis when all are positive, else symlog); right: each relative to its mean over the K
    transformations (flat at 1 = scale-invariant).

    ``fixed_layout=True`` builds the explorer's figure: the same panels, lines, scales and limits, but at fixed
    positions (the legend in a column at the right) and redrawn by blitting (:mod:`samlab.plots.blitting`).
    Passing such a figure as ``fig`` updates it in place (line data, limits, legend, title) instead of building
    a new one, so a slider move redraws the moved lines and the axes whose limits changed, not three panels.
    """
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ValueError(f"logits must have shape (K, n, classes), got {logits.shape}")
    if fig is None and not fixed_layout:
        return _plot_new(logits, sharpness, labels, colors, title)
    state = getattr(fig, "_samlab_scale_invariance", None) if fig is not None else None
    if state is None or state["logits_shape"] != logits.shape[1:] or len(sharpness) > _SLOTS:
        fig, state = _new_fixed_figure(logits.shape[1:])
    _update(fig, state, logits, sharpness, labels or {}, colors or {}, title)
    return fig


def _plot_new(logits: np.ndarray, sharpness: dict[str, np.ndarray], labels: dict[str, str] | None,
              colors: dict[str, str] | None, title: str | None) -> Figure:
    """The figure the notebook saves: constrained layout, the legend outside at the upper right."""
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
        axes[0, 2].plot(k, _relative(values), lw=1.2, color=col, label=lab, marker=".", ms=3)
    _sharpness_scale(axes[0, 1], positive and bool(sharpness))
    finish_axes(axes[0, 1], xlabel="transformation", ylabel=r"$L(w+\epsilon)-L(w)$", title="sharpness")
    finish_axes(axes[0, 2], xlabel="transformation", ylabel="sharpness / its mean", title="relative sharpness")
    for a in (axes[0, 1], axes[0, 2]):
        _nice_ylim(a)
    fig.legend(*axes[0, 2].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    set_suptitle(fig, title)
    return fig


def _relative(values: np.ndarray) -> np.ndarray:
    mean = float(np.mean(values))
    return values / mean if mean != 0 else values * np.nan


def _sharpness_scale(ax, positive: bool) -> None:
    if positive:
        ax.set_yscale("log")
        readable_log_axis(ax, "y")
    else:
        ax.set_yscale("symlog", linthresh=1e-4)


def _new_fixed_figure(shape: tuple[int, int]) -> tuple[Figure, dict]:
    """The explorer's figure: three panels at fixed positions, empty lines, marked for blitted redraws."""
    f = _FIXED
    width, height = f["size"]
    fig = SamlabFigure(figsize=f["size"])
    panel = (width - f["legend"] - f["gap"]) / 3
    axes = [fig.add_axes(((i * panel + f["left"]) / width, f["bottom"] / height, (panel - f["left"] - f["gap"]) / width,
                          (height - f["bottom"] - f["top"]) / height)) for i in range(3)]
    logit_lines = [axes[0].plot([], [], lw=1, color=f"C{i % 10}", ls="-" if c == 0 else "--")[0]
                   for i in range(shape[0]) for c in range(shape[1])]
    slots = [[ax.plot([], [], lw=1.2, marker=".", ms=3)[0] for _ in range(_SLOTS)] for ax in axes[1:]]
    finish_axes(axes[0], xlabel="transformation", ylabel="logit", title="logits of a few inputs")
    finish_axes(axes[1], xlabel="transformation", ylabel=r"$L(w+\epsilon)-L(w)$", title="sharpness")
    finish_axes(axes[2], xlabel="transformation", ylabel="sharpness / its mean", title="relative sharpness")
    for ax in axes:     # a title at a given height: no title placement (tick extents) at every draw
        ax.set_title(ax.get_title(), fontsize="medium", y=1.0)
    state = {"logits_shape": shape, "axes": axes, "logit_lines": logit_lines, "slots": slots, "legend": None}
    fig._samlab_scale_invariance = state  # type: ignore[attr-defined]

    def static_key(ax) -> tuple:
        return ((ax.get_xlim(), ax.get_xlabel()),
                (ax.get_ylim(), ax.get_yscale(), ax.get_ylabel(), ax.get_title()))

    enable_blitting(fig, [], static_key)
    return fig, state


def _nice_ylim(ax: Any) -> None:
    """Round the panel's autoscaled y limits outward to a coarse grid: quarter decades on a log axis, whole steps
    of 1, 2 or 5 x 10^k (about 4 per axis) on a linear one. The limits still follow only the data (a state
    draws the same figure whatever came before), and a small move of rho or tau mostly keeps them, so the
    explorer redraws only the lines (issue 19: a y axis redraw was two thirds of a move's rendering)."""
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log" and lo > 0:
        ax.set_ylim(10 ** (math.floor(4 * math.log10(lo)) / 4), 10 ** (math.ceil(4 * math.log10(hi)) / 4))
    elif ax.get_yscale() == "linear" and hi > lo:
        raw = (hi - lo) / 4
        step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda v: abs(v - raw))
        ax.set_ylim(math.floor(lo / step) * step, math.ceil(hi / step) * step)


def _update(fig: Figure, state: dict, logits: np.ndarray, sharpness: dict[str, np.ndarray], labels: dict[str, str],
            colors: dict[str, str], title: str | None) -> None:
    ax0, ax1, ax2 = state["axes"]
    k = np.arange(logits.shape[0])
    for line, (i, c) in zip(state["logit_lines"], np.ndindex(*logits.shape[1:])):
        line.set_data(k, logits[:, i, c])
    positive, shown = True, []
    for j, (name, values) in enumerate(sharpness.items()):
        values = np.asarray(values, dtype=float)
        positive = positive and bool(np.all(values > 0))
        for line, y in zip((state["slots"][0][j], state["slots"][1][j]), (values, _relative(values))):
            line.set(data=(k, y), color=colors.get(name, f"C{j}"), label=labels.get(name, name), visible=True)
        shown.append(j)
    for j in range(len(sharpness), _SLOTS):
        for row in state["slots"]:
            row[j].set(data=([], []), visible=False)
    for ax in (ax0, ax1, ax2):
        ax.set_autoscaley_on(True)      # (the rounded limits of the last draw turned it off)
        ax.relim(visible_only=True)
        ax.autoscale_view()
    _sharpness_scale(ax1, positive and bool(sharpness))
    for ax in (ax1, ax2):
        _nice_ylim(ax)
    handles = [state["slots"][1][j] for j in shown]
    texts = [h.get_label() for h in handles]
    look = (texts, [h.get_color() for h in handles])
    if state["legend"] is None or state.get("legend_look") != look:
        if state["legend"] is not None:
            state["legend"].remove()
        state["legend"] = fig.legend(handles, texts, loc="upper right", fontsize="small", bbox_to_anchor=(1, 1 - (
            _FIXED["top"] - 0.3) / _FIXED["size"][1]))
        state["legend_look"] = look
    if (fig._suptitle.get_text() if fig._suptitle is not None else None) != title:
        set_suptitle(fig, title)
    set_moving_artists(fig, [line for row in state["slots"] for line in row if line.get_visible()])
