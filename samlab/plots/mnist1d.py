"""Figures of the MNIST-1D study (notebook 04b): the rho sweep and the methods at their chosen rho.

Both take the summaries of :mod:`samlab.experiments.mnist1d` (plain dicts), so nothing here trains or loads runs.
Every title names the data set (MNIST-1D).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from ..methods import PAPER_VARIANTS, method_color, method_label
from .core import legend_outside, new_figure

__all__ = ["plot_rho_sweep", "plot_method_comparison"]

_BASELINES = ("SGD", "Adam")
_BASELINE_STYLE = {"SGD": dict(color="#444444", linestyle="-"), "Adam": dict(color="#999999", linestyle="--")}


def _color(name: str) -> str:
    if name in PAPER_VARIANTS:
        return method_color(*PAPER_VARIANTS[name])
    return method_color(name.lower())


def _label(name: str, *, plain: bool = False) -> str:
    return method_label(*PAPER_VARIANTS[name], plain=plain) if name in PAPER_VARIANTS else name


#: Small horizontal offsets (a factor on the log axis) so methods run at the same rho do not hide each other.
_NUDGE = {"SAM": 1.0, "ASAM": 0.94, "SAMSON_2": 1.0, "SAMSON_inf": 1.06}


def _ci(e: dict, key: str) -> float:
    half = e[f"{key}_ci"]
    return 0.0 if half is None or math.isnan(half) else half


def _style(ax: Any, *, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3, linewidth=0.5)


#: A point is drawn off scale (marked at the axis' lower edge) when its mean lies more than this many typical
#: interval half-widths (the median over the panel's points and bands) below the panel's median mean: a run that
#: failed to train in some seeds, which would otherwise stretch the axis and flatten 1-point differences.
_OFF_SCALE = 10.0


def _zoom(ax: Any, entries: Sequence[dict], key: str) -> list[dict]:
    """Limit the y-axis to the populated range of ``key`` and mark the entries below it; returns them."""
    means = [e[key] for e in entries]
    halves = [_ci(e, key) for e in entries if _ci(e, key) > 0] or [1.0]
    centre = sorted(means)[len(means) // 2]
    typical = sorted(halves)[len(halves) // 2]
    off = [e for e in entries if e["rho"] > 0 and e[key] < centre - _OFF_SCALE * typical]
    kept = [e for e in entries if e not in off]
    if not off or not kept:
        return []
    lo = min(e[key] - _ci(e, key) for e in kept)
    hi = max(e[key] + _ci(e, key) for e in kept)
    pad = 0.12 * (hi - lo or 1.0)
    ax.set_ylim(lo - 2 * pad, hi + pad)
    bottom = lo - 1.6 * pad
    for e in off:
        x = e["rho"] * _NUDGE.get(e["method"], 1.0)
        ax.plot([x], [bottom], marker="v", markersize=7, color=_color(e["method"]), clip_on=False, zorder=5)
        ax.annotate(f"{_label(e['method'], plain=True)} at {e['rho']:g}: {e[key]:.0f} ± {_ci(e, key):.0f} (off scale)",
                    (x, bottom), xytext=(-8, 3), textcoords="offset points", ha="right", va="bottom",
                    fontsize="x-small", color=_color(e["method"]), zorder=6,
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.9, pad=1.0))  # over the line it ends
    return off


def plot_rho_sweep(summary: Sequence[dict], model: str, *, title: str | None = None) -> Figure:
    """Test accuracy and train-test gap against rho (log axis), one line per SAM variant, SGD/Adam as bands.

    Error bars and bands are the 95 % t intervals over seeds stored in ``summary``. On the test-accuracy panel a
    point far below the others (:data:`_OFF_SCALE`) is marked at the lower edge with its value, and the axis
    zooms to the populated range, so a collapsed run does not hide the differences between the others.
    """
    entries = [e for e in summary if e["model"] == model]
    if not entries:
        raise ValueError(f"model={model!r} has no runs in the summary; models: "
                         f"{sorted({e['model'] for e in summary})}")
    fig, axes = new_figure(1, 2, panel_size=(4.2, 3.2))
    for ax, key, ylabel in ((axes[0, 0], "test_acc", "test accuracy (%)"),
                            (axes[0, 1], "gap", "train - test accuracy (points)")):
        for name in _BASELINES:
            base = [e for e in entries if e["method"] == name]
            if base:
                e = base[0]
                ax.axhline(e[key], label=f"{name} (rho 0)", linewidth=1.2, **_BASELINE_STYLE[name])
                ax.axhspan(e[key] - _ci(e, key), e[key] + _ci(e, key), alpha=0.12,
                           color=_BASELINE_STYLE[name]["color"], linewidth=0)
        for name in PAPER_VARIANTS:
            pts = sorted((e for e in entries if e["method"] == name), key=lambda e: e["rho"])
            if pts:
                ax.errorbar([e["rho"] * _NUDGE.get(name, 1.0) for e in pts], [e[key] for e in pts],
                            yerr=[_ci(e, key) for e in pts],
                            marker="o", markersize=4, capsize=3, color=_color(name), label=_label(name, plain=True))
        ax.set_xscale("log")
        rhos = sorted({e["rho"] for e in entries if e["method"] in PAPER_VARIANTS and e["rho"] > 0})
        if rhos:  # ticks at the rho values run, labelled plainly (default log ticks crowd below one decade)
            ax.xaxis.set_major_locator(FixedLocator(rhos))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlim(rhos[0] / 1.6, rhos[-1] * 1.6)
        _style(ax, xlabel=r"$\rho$", ylabel=ylabel, title=ylabel.split(" (")[0])
        if key == "test_acc":
            baselines = [e for e in entries if e["method"] in _BASELINES]
            _zoom(ax, baselines + [e for e in entries if e["method"] in PAPER_VARIANTS], key)
    n = max(e["n"] for e in entries)
    legend_outside(fig, [axes[0, 0]], fontsize="x-small")     # below the panels: a legend never covers data
    fig.suptitle(title or f"MNIST-1D, {model}: rho sweep (mean and 95% CI over {n} seeds)", fontsize="medium")
    return fig


def plot_method_comparison(selected: Sequence[dict], *, references: Sequence[Any] = (),
                           title: str | None = None) -> Figure:
    """Per model, each method's test accuracy (filled, 95 % CI) and train accuracy (hollow) at its chosen rho.

    ``references``: :class:`samlab.papers.PaperResult` rows drawn as a dotted line per model (the paper's baseline),
    named in one legend below the panels.
    """
    models = list(dict.fromkeys(e["model"] for e in selected))
    if not models:
        raise ValueError("selected is empty: nothing to draw")
    fig, axes = new_figure(1, len(models), panel_size=(4.4, 3.4))
    for ax, model in zip(axes[0], models):
        entries = [e for e in selected if e["model"] == model]
        for i, e in enumerate(entries):
            c = _color(e["method"])
            ax.errorbar([i], [e["test_acc"]], yerr=[_ci(e, "test_acc")], marker="o", capsize=3, color=c)
            ax.plot([i], [e["train_acc"]], marker="o", markerfacecolor="none", color=c)
        for ref in references:
            if ref.model == model:
                ax.axhline(ref.acc, color="k", linestyle=":", linewidth=1,
                           label=f"paper, {ref.method}: {ref.acc:g}% ({model})")
        ax.set_xticks(range(len(entries)))
        ax.set_xticklabels([_label(e["method"], plain=True) + ("" if e["rho"] == 0 else f"\n{e['rho']:g}")
                            for e in entries],
                           fontsize="x-small")
        _style(ax, xlabel=r"method ($\rho$ chosen on calibration)", ylabel="accuracy (%)", title=model)
    legend_outside(fig, axes[0], fontsize="x-small")           # one legend below the panels, never over a point
    fig.suptitle(title or "MNIST-1D: test (filled, 95% CI)\nand train (hollow) accuracy", fontsize="medium")
    return fig
