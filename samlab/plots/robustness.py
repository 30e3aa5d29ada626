"""Notebook 05's figures: accuracy against conductance variation sigma_c (SAMSON Figs. 2 and 6) with the Pareto plane
of (clean accuracy, accuracy at sigma_c = 0.4), and accuracy against time after programming PCM (Fig. 5).

The noise curves come one panel per training configuration (plain, clipping, additive noise) on a shared y axis.
Pure drawing: every function takes plain data (:func:`samlab.experiments.robustness.series` builds it from stored
curves) and returns a pyplot-free figure (:func:`samlab.plots.new_figure`). Colour = method, line style = training
configuration (plain solid, clipping dashed, additive noise dotted); runs on the Pareto frontier are drawn with a star.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..methods import METHOD_COLORS
from .core import finish_axes as _finish
from .core import legend_outside, new_figure, set_suptitle

__all__ = ["TRAINING_STYLES", "PANEL_TITLES", "plot_noise_curves", "plot_pareto", "plot_pcm_curves", "plot_taylor",
           "TIME_TICKS"]

#: Line style and marker per training configuration (plain, clipping, noise).
TRAINING_STYLES = {"plain": dict(ls="-", marker="o"), "clipping": dict(ls="--", marker="s"),
                  "noise": dict(ls=":", marker="^")}
#: Read-time ticks of the PCM figure: seconds -> label.
TIME_TICKS = {1.0: "1 s", 60.0: "1 min", 3600.0: "1 h", 86400.0: "1 day", 2629800.0: "1 month",
              31557600.0: "1 year", 315576000.0: "10 years"}


def _color(s: dict) -> str:
    return METHOD_COLORS.get(s.get("key", ""), "#17becf")


def _check(series: Sequence[dict]) -> list[dict]:
    series = list(series)
    if not series:
        raise ValueError("series is empty: nothing to plot (no stored run matches the selection)")
    return series


def _curve_panel(ax: Any, series: Sequence[dict], sigma_range: tuple[float, float] | None) -> None:
    lo, hi = sigma_range if sigma_range is not None else (0.0, max(max(s["sigmas"]) for s in series))
    for s in series:
        x = np.asarray(s["sigmas"], dtype=float)
        keep = (x >= lo - 1e-12) & (x <= hi + 1e-12)
        m, sd = 100 * np.asarray(s["mean"], dtype=float)[keep], 100 * np.asarray(s["std"], dtype=float)[keep]
        style = TRAINING_STYLES.get(s.get("training", "plain"), TRAINING_STYLES["plain"])
        ax.errorbar(x[keep], m, yerr=sd, color=_color(s), ls=style["ls"], marker=style["marker"], ms=3.5, lw=1.3,
                    capsize=2, elinewidth=0.8, label=s["label"] + (" ★" if s.get("front") else ""))
    ax.set_xlim(lo - 0.01 * max(hi - lo, 1e-3), hi + 0.01 * max(hi - lo, 1e-3))
    _finish(ax, xlabel=r"conductance variation $\sigma_c$ (relative std of $G$, eq. 8)", ylabel="test accuracy (%)")


def plot_pareto(series: Sequence[dict], *, high: float = 0.4, ax: Any = None, title: str | None = None) -> Figure:
    """Clean test accuracy against accuracy at sigma_c = ``high`` per run (mean ± std over draws), the Pareto
    frontier joined by a line and its runs starred. ``series``: dicts with ``label``, ``key``, ``training``,
    ``clean``, ``high``, ``high_std``, ``front``."""
    series = _check(series)
    fig = None
    if ax is None:
        fig, axes = new_figure(1, 1, panel_size=(4.6, 3.6))
        ax = axes[0, 0]
    for s in series:
        style = TRAINING_STYLES.get(s.get("training", "plain"), TRAINING_STYLES["plain"])
        ax.errorbar(100 * s["clean"], 100 * s["high"], yerr=100 * s["high_std"], color=_color(s),
                    marker="*" if s.get("front") else style["marker"], ms=11 if s.get("front") else 5,
                    ls="none", capsize=2, elinewidth=0.8, mec="black" if s.get("front") else _color(s), mew=0.6)
    front = sorted((100 * s["clean"], 100 * s["high"]) for s in series if s.get("front"))
    if len(front) > 1:
        ax.plot(*zip(*front), color="black", lw=0.8, ls="-", alpha=0.6, zorder=0, label="Pareto frontier")
    _finish(ax, xlabel=r"clean test accuracy, $\sigma_c = 0$ (%)", ylabel=rf"test accuracy at $\sigma_c = {high:g}$ (%)",
            title=title or "Pareto plane (★ = on the frontier)")
    return fig if fig is not None else ax.figure


#: Panel titles of :func:`plot_noise_curves`, one panel per training configuration (the paper splits them too).
PANEL_TITLES = {"plain": "plain training", "clipping": "+ aggressive weight clipping",
                "noise": "+ additive-noise training"}


def plot_noise_curves(series: Sequence[dict], *, sigma_range: tuple[float, float] | None = None, high: float = 0.4,
                      title: str | None = None, pareto: bool = True) -> Figure:
    """SAMSON Fig. 2/6: test accuracy (%) against sigma_c, mean ± std, one line per run, one panel per training
    configuration present (plain, + clipping, + additive noise: SAMSON sec. 6.2 splits them for clarity) on a
    shared y axis; with ``pareto`` a last panel: the Pareto plane of (clean, sigma_c = ``high``)
    (:func:`plot_pareto`). One legend below the panels, never over the data.

    ``series``: dicts with ``label``, ``key`` (colour), ``training``, ``sigmas``, ``mean``, ``std`` (fractions),
    ``front`` and, for the Pareto panel, ``clean``, ``high``, ``high_std``. ``sigma_range`` limits the x axis.
    """
    series = _check(series)
    if sigma_range is not None:
        lo, hi = float(sigma_range[0]), float(sigma_range[1])
        if not (0 <= lo < hi) or math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"sigma_range={sigma_range!r} must be (low, high) with 0 <= low < high")
        sigma_range = (lo, hi)
    trainings = [t for t in PANEL_TITLES if any(s.get("training", "plain") == t for s in series)]
    trainings += sorted({s.get("training", "plain") for s in series} - set(trainings))
    ncols = len(trainings) + (1 if pareto else 0)
    fig, axes = new_figure(1, ncols, panel_size=(4.0, 3.6))
    panels = [axes[0, i] for i in range(len(trainings))]
    for i, (ax, t) in enumerate(zip(panels, trainings)):
        if i:
            ax.sharey(panels[0])
        _curve_panel(ax, [s for s in series if s.get("training", "plain") == t], sigma_range)
        ax.set_title(PANEL_TITLES.get(t, t), fontsize="small")
        if i:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
    if pareto:
        plot_pareto(series, high=high, ax=axes[0, -1])
    legend_outside(fig, panels, fontsize="x-small", frameon=False)
    set_suptitle(fig, title)
    return fig


def plot_pcm_curves(series: Sequence[dict], *, mark: float = 31557600.0, title: str | None = None) -> Figure:
    """SAMSON Fig. 5 over time: test accuracy (%) against time after programming PCM (log axis, 1 s to 10 years),
    mean ± std over programming repeats; the digital accuracy as a thin line at the left; ``mark`` (1 year, the
    paper's time) as a vertical line. ``series``: dicts with ``label``, ``key``, ``training``, ``times`` (s),
    ``mean``, ``std``, ``digital``."""
    series = _check(series)
    fig, axes = new_figure(1, 1, panel_size=(6.0, 3.8))
    ax = axes[0, 0]
    for s in series:
        style = TRAINING_STYLES.get(s.get("training", "plain"), TRAINING_STYLES["plain"])
        t = np.asarray(s["times"], dtype=float)
        ax.errorbar(t, 100 * np.asarray(s["mean"], dtype=float), yerr=100 * np.asarray(s["std"], dtype=float),
                    color=_color(s), ls=style["ls"], marker=style["marker"], ms=3.5, lw=1.3, capsize=2,
                    elinewidth=0.8, label=s["label"])
    ax.set_xscale("log")
    lo = min(min(s["times"]) for s in series)
    hi = max(max(s["times"]) for s in series)
    ticks = [t for t in TIME_TICKS if lo * 0.99 <= t <= hi * 1.01]
    ax.set_xticks(ticks, [TIME_TICKS[t] for t in ticks], fontsize="small")
    ax.minorticks_off()
    if mark is not None and lo <= mark <= hi:
        ax.axvline(mark, color="black", lw=0.8, ls="--", alpha=0.6)
        text = " 1 year (Fig. 5)" if abs(mark / 31557600.0 - 1) < 1e-6 else " read time"
        ax.text(mark, ax.get_ylim()[0], text, fontsize="x-small", va="bottom")
    _finish(ax, xlabel="time after programming (log scale)", ylabel="test accuracy on PCM (%)")
    legend_outside(fig, [ax], fontsize="x-small", frameon=False)
    set_suptitle(fig, title)
    return fig


def plot_taylor(series: Sequence[dict], *, tolerance: float = 1.5, title: str | None = None) -> Figure:
    """Predicted (second order, ``(sigma_c^2 / 2) tr(D_W H D_W)``) against measured mean test-loss rise under
    conductance noise, log-log, one colour per run: measured as markers with ± 1 standard error over draws,
    predicted as a line with a band of ``tolerance`` (a factor) around it. ``series``: dicts with ``label``,
    ``key``, ``sigmas``, ``measured``, ``measured_se``, ``predicted``."""
    series = _check(series)
    fig, axes = new_figure(1, 1, panel_size=(6.4, 4.0))
    ax = axes[0, 0]
    for s in series:
        x = np.asarray(s["sigmas"], dtype=float)
        p = np.asarray(s["predicted"], dtype=float)
        m, se = np.asarray(s["measured"], dtype=float), np.asarray(s["measured_se"], dtype=float)
        ax.plot(x, p, color=_color(s), lw=1.3, label=f"{s['label']}: predicted")
        ax.fill_between(x, p / tolerance, p * tolerance, color=_color(s), alpha=0.12, lw=0)
        ax.errorbar(x, m, yerr=se, color=_color(s), ls="none", marker="o", ms=4, capsize=2,
                    label=f"{s['label']}: measured (Monte Carlo)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _finish(ax, xlabel=r"conductance variation $\sigma_c$ (relative std of $G$, eq. 8; log scale)",
            ylabel=r"test-loss rise $E[L(W\circ\delta)] - L(W)$ (nats)")
    legend_outside(fig, [ax], fontsize="x-small", frameon=False)
    what = f"second-order prediction (line; band: within a factor {tolerance:g}) vs measured (± 1 s.e. over draws)"
    set_suptitle(fig, f"{title}\n{what}" if title else what)
    return fig
