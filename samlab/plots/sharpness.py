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

from .blitting import enable_blitting, set_moving_artists, show_legend
from .core import finish_axes, new_figure, set_suptitle

__all__ = ["TRAINING_COLORS", "METHOD_MARKERS", "plot_sharpness_robustness", "training_color", "SharpnessBoard"]

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
    handles, labels = _legend_entries(trainings, list(dict.fromkeys(r["method"] for r in rows)))
    ncols = max(1, min(len(labels), int(fig.get_figwidth() // 1.6)))
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small")
    set_suptitle(fig, title)
    return fig



def _legend_entries(trainings: Sequence[str], methods: Sequence[str]) -> tuple[list, list[str]]:
    """Legend handles and labels: a colour per training configuration, then a marker per method."""
    handles = [Line2D([], [], color=training_color(t), marker="o", ls="", markersize=7) for t in trainings]
    handles += [Line2D([], [], color="0.4", marker=METHOD_MARKERS.get(m, "X"), ls="", markersize=7,
                       markeredgecolor="black", markeredgewidth=0.5) for m in methods]
    return handles, [_TRAINING_NAMES.get(t, t) for t in trainings] + list(methods)


class SharpnessBoard:
    """Notebook 06's explorer figure: one scatter panel of fixed layout, redrawn for each measure and choice of
    configurations by blitting (issue 19): the panel's axes, labels and legend are cached images, drawn again
    only when they change; the points are drawn on top. The same marks as :func:`plot_sharpness_robustness`.

    ``trainings``/``methods``: every configuration and method the explorer can show (the layout makes room for
    the longest legend); ``panel_size`` in inches; ``title``: the figure's (name the data set).
    """

    def __init__(self, trainings: Sequence[str], methods: Sequence[str], *, title: str | None = None,
                 ylabel: str = "robustness gap (points)\nacc(σ_c = 0) − acc(σ_c = 0.4)",
                 panel_size: tuple[float, float] = (5.0, 3.6), dpi: int = 80) -> None:
        if not trainings or not methods:
            raise ValueError("trainings and methods must each name at least one")
        self.trainings, self.methods, self.ylabel = list(trainings), list(methods), ylabel
        fig, axes = new_figure(1, 1, panel_size=panel_size)
        fig.set_dpi(dpi)
        self.fig, self.ax = fig, axes[0, 0]
        self._legends: dict[tuple, object] = {}
        self._legend(self.trainings, self.methods)
        set_suptitle(fig, title)
        # the layout makes room for a two-line x label (a linear axis says why) and a title
        finish_axes(self.ax, xlabel="x\nx", ylabel=ylabel)
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
        enable_blitting(fig, [], lambda ax: ((ax.get_xlim(), ax.get_xscale(), ax.get_xlabel()),
                                             (ax.get_ylim(), ax.get_title())))

    def _legend(self, trainings: Sequence[str], methods: Sequence[str]) -> None:
        def make() -> object:
            handles, labels = _legend_entries(trainings, methods)
            ncols = max(1, min(len(labels), int(self.fig.get_figwidth() // 1.3)))
            return self.fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small")

        show_legend(self.fig, self._legends, (tuple(trainings), tuple(methods)), make)

    def show(self, rows: Sequence[Mapping], xlabel: str, title: str | None = None, *, log_x: bool = True,
             limits: tuple[tuple[float, float], tuple[float, float]] | None = None) -> Figure:
        """Draw ``rows`` (as :func:`plot_sharpness_robustness`'s) with ``xlabel`` and the panel ``title``;
        return the figure (render it with :func:`samlab.plots.figure_png`). ``limits``: ``(xlim, ylim)`` to keep
        (e.g. :meth:`limits` after showing every run: fewer runs then never rescale the panel)."""
        if not rows:
            raise ValueError("rows is empty: no run has both a sharpness value and a noise curve")
        ax = self.ax
        ax.cla()                      # new data limits; the panel keeps its place (the layout is fixed)
        _panel(ax, rows, xlabel, self.ylabel, title, log_x)
        if limits is not None:
            ax.set_xlim(*limits[0])
            ax.set_ylim(*limits[1])
        trainings = [t for t in self.trainings if any(r["training"] == t for r in rows)]
        self._legend(trainings or self.trainings, [m for m in self.methods if any(r["method"] == m for r in rows)])
        set_moving_artists(self.fig, [*ax.collections, *ax.lines])
        return self.fig

    def limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The panel's ``(xlim, ylim)`` now."""
        return tuple(self.ax.get_xlim()), tuple(self.ax.get_ylim())   # type: ignore[return-value]
