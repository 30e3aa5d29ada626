"""Notebook 06 (SAMSON Figs. 3, 4, 7, 8, 9): sharpness against robustness, one point per trained run.

Colour says the training configuration (plain, + noise, + clipping; seaborn's colour-blind palette), the marker
the method, and the vertical bar the std of the robustness gap over noise draws, as in the paper's figures.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter

from .core import finish_axes, new_figure, set_suptitle

__all__ = ["TRAINING_COLORS", "METHOD_MARKERS", "plot_sharpness_robustness", "training_color"]

_TRAININGS = ("plain", "noise", "clipping")
_TRAINING_NAMES = {"plain": "plain", "noise": "+ additive noise", "clipping": "+ weight clipping"}
#: One marker per method (the paper marks methods by shape).
METHOD_MARKERS = {"SGD": "o", "SAM": "s", "ASAM": "^", "SAMSON_2": "D", "SAMSON_inf": "v", "ESAM": "P"}


def _palette() -> dict[str, str]:
    try:
        import seaborn as sns

        colors = sns.color_palette("colorblind", 3).as_hex()
    except ImportError:  # pragma: no cover - seaborn is a declared dependency
        colors = ["#0173b2", "#de8f05", "#029e73"]
    return dict(zip(_TRAININGS, colors))


#: Colour per training configuration.
TRAINING_COLORS = _palette()


def training_color(training: str) -> str:
    """The colour of a training configuration (grey for an unknown one)."""
    return TRAINING_COLORS.get(training, "#7f7f7f")


def _panel(ax, rows: Sequence[Mapping], xlabel: str, ylabel: str | None, title: str | None, log_x: bool) -> None:
    # one errorbar per configuration and one scatter per (configuration, method): a few artists instead of four
    # per run (75 runs drew 300 collections, 0.4 s of an explorer's redraw); bars under markers as before
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for r in rows:
        groups.setdefault((r["training"], r["method"]), []).append(r)
    for training in dict.fromkeys(t for t, _ in groups):
        mine = [r for r in rows if r["training"] == training]
        ax.errorbar([r["sharpness"] for r in mine], [r["gap"] for r in mine],
                    yerr=[r.get("gap_std", 0.0) for r in mine], fmt="none", ecolor=training_color(training),
                    elinewidth=1.0, capsize=2.5, alpha=0.8, zorder=2)
    for (training, method), mine in groups.items():
        ax.scatter([r["sharpness"] for r in mine], [r["gap"] for r in mine], marker=METHOD_MARKERS.get(method, "X"),
                   s=42, color=training_color(training), edgecolor="black", linewidth=0.5, zorder=3)
    log = log_x and all(r["sharpness"] > 0 for r in rows)
    if log:
        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        if math.floor(math.log10(hi)) >= math.ceil(math.log10(lo)):   # a power of 10 is on the axis: majors say it
            ax.xaxis.set_minor_formatter(NullFormatter())             # (minor labels would collide with them)
        # else: within one decade no major tick falls; matplotlib's minor labels (2, 3, 4, 6 x 10^k) number the axis
    else:
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if log_x:   # a value <= 0 has no place on a log axis: say why this panel is linear
            xlabel = f"{xlabel}\n(linear axis: a value ≤ 0)"
    finish_axes(ax, xlabel=xlabel, ylabel=ylabel, title=title)


def plot_sharpness_robustness(panels: Mapping[str, Sequence[Mapping]], *, xlabels: Mapping[str, str] | None = None,
                              ylabel: str = "robustness gap (points)\nacc(σ_c = 0) − acc(σ_c = 0.4)",
                              titles: Mapping[str, str] | None = None, title: str | None = None, ncols: int = 3,
                              log_x: bool = True, panel_size: tuple[float, float] = (4.4, 3.4)) -> Figure:
    """One scatter panel per measure: sharpness (x) against the robustness gap (y, with its std over draws).

    ``panels``: measure name -> rows with ``sharpness``, ``gap``, ``gap_std`` (accuracy points), ``training``
    (plain/noise/clipping) and ``method`` (e.g. ``SAMSON_2``; the marker). ``xlabels``/``titles`` per panel name
    (the x label should say the measure's settings and unit); ``title``: the figure's (name the data set).
    One legend below the panels (never over data), in as many columns as the figure's width holds.
    ``log_x`` (default): a log x axis, where the configurations' sharpness levels differ by orders of magnitude
    (clipped runs' m-sharpness is ten times the others'), so the runs of each configuration spread out instead of
    collapsing into a sliver; a panel holding a value <= 0 stays linear and says so.
    """
    names = list(panels)
    if not names:
        raise ValueError("panels is empty: nothing to plot")
    if any(not panels[k] for k in names):
        empty = [k for k in names if not panels[k]]
        raise ValueError(f"panels {empty} have no run with both a sharpness value and a noise curve")
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = new_figure(nrows, ncols, panel_size=panel_size, squeeze=False, sharey=True)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for k, (ax, name) in enumerate(zip(axes.flat, names)):
        _panel(ax, panels[name], (xlabels or {}).get(name, name), ylabel if k % ncols == 0 else None,
               (titles or {}).get(name), log_x)
        ax.tick_params(labelleft=True)
    rows = [r for k in names for r in panels[k]]
    trainings = [t for t in _TRAININGS if any(r["training"] == t for r in rows)]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    handles = [Line2D([], [], color=training_color(t), marker="o", ls="", markersize=7) for t in trainings]
    labels = [_TRAINING_NAMES.get(t, t) for t in trainings]
    handles += [Line2D([], [], color="0.4", marker=METHOD_MARKERS.get(m, "X"), ls="", markersize=7,
                       markeredgecolor="black", markeredgewidth=0.5) for m in methods]
    labels += methods
    ncols = max(1, min(len(labels), int(fig.get_figwidth() // 1.6)))
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small")
    set_suptitle(fig, title)
    return fig

