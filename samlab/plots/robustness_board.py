"""Notebook 05's explorer figure: the noise curves, the Pareto plane and the PCM curves in ONE figure of fixed
layout, built once per population of curves and redrawn by blitting (issue 19).

A move of the explorer's controls changes only which runs are shown, the sigma_c range (x limits of the noise
panels) and the PCM read time (a marker): :meth:`RobustnessBoard.show` toggles the runs' artists, moves limits
and the marker, and rebuilds the small legend; :func:`samlab.plots.figure_png` then composes cached images of
the static parts (axes, ticks, labels, titles, legend) and draws only the data on top
(:mod:`samlab.plots.blitting`). The y limits are those of every run of the population, so choosing fewer methods
never rescales a panel (and the panels stay comparable while a student toggles methods).

The same marks as :func:`samlab.plots.plot_noise_curves` / :func:`~samlab.plots.plot_pcm_curves`: colour =
method, line style and marker = training configuration, the Pareto frontier starred and joined by a line. The
legend names each method once and each training configuration once (8 entries, not one per run); error bars
have no caps (one collection of bars per panel: a third of the artists to draw per frame).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .blitting import enable_blitting, set_moving_artists, show_legend
from .core import SamlabFigure
from .core import finish_axes as _finish
from .robustness import PANEL_TITLES, TIME_TICKS, TRAINING_STYLES, _color

__all__ = ["RobustnessBoard"]



class RobustnessBoard:
    """One explorer figure for every run of a population: noise-curve panels (one per training configuration,
    shared y), the Pareto plane of (clean, sigma_c = ``high``) and, with ``pcm_series``, the PCM curves.

    ``series``: :func:`samlab.experiments.robustness.series` of EVERY run (dicts with ``name``, ``key``,
    ``training``, ``method`` (its plain label), ``sigmas``, ``mean``, ``std``, ``clean``, ``high``, ``high_std``);
    ``pcm_series``: :func:`~samlab.experiments.robustness.pcm_series` of the same runs, or None. The figure is
    ``width`` inches wide (at 80 dpi: 960 px, shown unscaled in JupyterLab's usual output width).
    """

    def __init__(self, series: Sequence[dict], pcm_series: Sequence[dict] | None = None, *, high: float = 0.4,
                 title: str | None = None, width: float = 12.0, dpi: int = 80) -> None:
        series = list(series)
        if not series:
            raise ValueError("series is empty: nothing to plot (no stored run matches the selection)")
        names = [s["name"] for s in series]
        if len(set(names)) != len(names):
            raise ValueError(f"series names must be unique, got {names}")
        pcm_series = list(pcm_series or [])
        if pcm_series and {s["name"] for s in pcm_series} != set(names):
            raise ValueError("pcm_series must hold the same runs as series (by name)")
        self.names = names
        self.high = float(high)
        self._series = {s["name"]: s for s in series}
        trainings = [t for t in PANEL_TITLES if any(s.get("training", "plain") == t for s in series)]
        trainings += sorted({s.get("training", "plain") for s in series} - set(trainings))
        self.sigma_max = max(max(s["sigmas"]) for s in series)
        fig = SamlabFigure(figsize=(width, 6.4 if pcm_series else 3.9), dpi=dpi, layout="constrained")
        grid = fig.add_gridspec(2 if pcm_series else 1, max(len(trainings), 1) * 2 if pcm_series else
                                len(trainings) + 1)
        self.curve_axes: dict[str, Any] = {}
        first = None
        for i, t in enumerate(trainings):
            ax = fig.add_subplot(grid[0, 2 * i:2 * i + 2] if pcm_series else grid[0, i], sharey=first)
            first = first or ax
            self.curve_axes[t] = ax
            _finish(ax, xlabel="σc (relative std of G, eq. 8)",
                    ylabel="test accuracy (%)" if i == 0 else None)
            ax.set_title(PANEL_TITLES.get(t, t), fontsize="small")
            if i:
                ax.tick_params(labelleft=False)
        n = len(trainings)
        self.pareto_ax = fig.add_subplot(grid[1, :2] if pcm_series else grid[0, n])
        _finish(self.pareto_ax, xlabel=r"clean accuracy (%)", ylabel=f"accuracy at σc = {high:g} (%)",
                title="Pareto plane (★ = on the frontier)")
        self.pareto_ax.title.set_fontsize("small")
        self.pcm_ax = fig.add_subplot(grid[1, 2:]) if pcm_series else None
        # every run's artists, made once: a move only shows or hides them. One line per run and ONE collection of
        # error bars per panel (no caps): ~50 artists drawn per frame instead of ~180 (errorbar's four per run)
        self._curves: dict[str, Any] = {}
        self._points: dict[str, Any] = {}
        self._pcm: dict[str, Any] = {}
        self._bars: dict[Any, tuple[Any, dict[str, tuple[np.ndarray, str]]]] = {}
        for s in series:
            style = TRAINING_STYLES.get(s.get("training", "plain"), TRAINING_STYLES["plain"])
            ax = self.curve_axes[s.get("training", "plain")]
            x = np.asarray(s["sigmas"], dtype=float)
            m, sd = 100 * np.asarray(s["mean"], dtype=float), 100 * np.asarray(s["std"], dtype=float)
            (self._curves[s["name"]],) = ax.plot(x, m, color=_color(s), ls=style["ls"], marker=style["marker"],
                                                 ms=3.5, lw=1.3)
            self._add_bars(ax, s["name"], x, m, sd, _color(s))
            xy, sd = ([100 * s["clean"]], [100 * s["high"]]), 100 * s["high_std"]
            (self._points[s["name"]],) = self.pareto_ax.plot(*xy, ls="none", color=_color(s), mew=0.6, zorder=3)
            self._add_bars(self.pareto_ax, s["name"], np.asarray(xy[0]), np.asarray(xy[1]), np.asarray([sd]),
                           _color(s))
        (self._frontier,) = self.pareto_ax.plot([], [], color="black", lw=0.8, alpha=0.6, zorder=0)
        if self.pcm_ax is not None:
            self._build_pcm(pcm_series)
        for ax in [*self.curve_axes.values(), self.pareto_ax, *([self.pcm_ax] if self.pcm_ax else [])]:
            ax.autoscale_view()
            ax.set_ylim(*ax.get_ylim())        # every run's range, kept: fewer methods never rescale a panel
            if ax not in self.curve_axes.values():
                ax.set_xlim(*ax.get_xlim())
        self._methods = list(dict.fromkeys((s["key"], s.get("method", s["key"])) for s in series))
        self._trainings = trainings
        self._legends: dict[tuple, Any] = {}
        self.fig: Figure = fig
        if title:
            fig.suptitle(title, fontsize=10)
        self._set_legend(self._methods, trainings)
        for ax in self.curve_axes.values():     # the layout makes room for the labels at the range's ends
            ax.set_xlim(-0.01 * self.sigma_max, 1.01 * self.sigma_max)
        fig.get_layout_engine().set(wspace=0.06)   # room for a tick label at a panel's right end
        fig.draw_without_rendering()            # constrained layout once, with every entry; then frozen
        fig.set_layout_engine("none")
        enable_blitting(fig, [], lambda ax: ((ax.get_xlim(), ax.get_xlabel()), (ax.get_ylim(), ax.get_title())),
                        shared_bottoms=True)
        self.show(names, set(), (0.0, self.sigma_max), None)

    def _build_pcm(self, pcm_series: Sequence[dict]) -> None:
        ax = self.pcm_ax
        for s in pcm_series:
            style = TRAINING_STYLES.get(s.get("training", "plain"), TRAINING_STYLES["plain"])
            t = np.asarray(s["times"], dtype=float)
            m, sd = 100 * np.asarray(s["mean"], dtype=float), 100 * np.asarray(s["std"], dtype=float)
            (self._pcm[s["name"]],) = ax.plot(t, m, color=_color(s), ls=style["ls"], marker=style["marker"],
                                              ms=3.5, lw=1.3)
            self._add_bars(ax, s["name"], t, m, sd, _color(s))
        ax.set_xscale("log")
        lo = min(min(s["times"]) for s in pcm_series)
        hi = max(max(s["times"]) for s in pcm_series)
        self.times = (lo, hi)
        ticks = [t for t in TIME_TICKS if lo * 0.99 <= t <= hi * 1.01]
        ax.set_xticks(ticks, [TIME_TICKS[t] for t in ticks], fontsize="small")
        ax.minorticks_off()
        self._mark = ax.axvline(lo, color="black", lw=0.8, ls="--", alpha=0.6)
        self._mark_text = ax.text(lo, 0, "", fontsize="x-small", va="bottom")
        _finish(ax, xlabel="time after programming PCM (log scale)", ylabel="accuracy on PCM (%)")

    def _add_bars(self, ax: Any, name: str, x: np.ndarray, mean: np.ndarray, std: np.ndarray, color: str) -> None:
        """Run ``name``'s error bars (mean ± std at each x) into the panel's one collection of bars."""
        from matplotlib.collections import LineCollection

        if ax not in self._bars:
            self._bars[ax] = (ax.add_collection(LineCollection([], linewidths=0.8), autolim=False), {})
        segments = np.stack([np.stack([x, mean - std], axis=1), np.stack([x, mean + std], axis=1)], axis=1)
        self._bars[ax][1][name] = (segments, color)
        ax.update_datalim(segments.reshape(-1, 2))

    def _set_legend(self, methods: Sequence[tuple[str, str]], trainings: Sequence[str]) -> None:
        """The figure's one legend: the methods and training configurations shown (each legend kept, so the
        blitted figure layer, keyed by the legend, is drawn once per selection)."""
        def make() -> Any:
            handles = [Line2D([], [], color=_color({"key": key}), lw=2.5) for key, _ in methods]
            labels = [label for _, label in methods]
            for t in trainings:
                style = TRAINING_STYLES.get(t, TRAINING_STYLES["plain"])
                handles.append(Line2D([], [], color="0.3", ls=style["ls"], marker=style["marker"], ms=4, lw=1.3))
                labels.append(PANEL_TITLES.get(t, t).replace("+ ", ""))
            return self.fig.legend(handles, labels, loc="outside lower center", ncols=len(handles),
                                   fontsize="small", frameon=False, handlelength=2.2, columnspacing=1.2)

        show_legend(self.fig, self._legends, (tuple(methods), tuple(trainings)), make)

    def show(self, shown: Iterable[str], front: Iterable[str], sigma_range: tuple[float, float],
             time: float | None) -> Figure:
        """Show the runs named in ``shown`` (those in ``front`` starred on the Pareto plane and joined by the
        frontier line), the noise panels over ``sigma_range`` and the PCM read time ``time`` (seconds, or None
        for no marker); return the figure (render it with :func:`samlab.plots.figure_png`). Bad input raises
        ``ValueError`` before anything changes."""
        shown, front = set(shown), set(front)
        unknown = (shown | front) - set(self.names)
        if unknown:
            raise ValueError(f"unknown runs {sorted(unknown)}; this board holds {self.names}")
        lo, hi = float(sigma_range[0]), float(sigma_range[1])
        if math.isnan(lo) or math.isnan(hi) or not 0 <= lo < hi:
            raise ValueError(f"sigma_range={sigma_range!r} must be (low, high) with 0 <= low < high")
        if self.pcm_ax is not None and time is not None and not self.times[0] <= time <= self.times[1]:
            raise ValueError(f"time={time!r} s lies outside the PCM curves' {self.times} s")
        moving: list[Any] = []
        for name in self.names:
            on = name in shown
            point = self._points[name]
            starred = name in front
            point.set(marker="*" if starred else TRAINING_STYLES.get(self._series[name].get("training", "plain"),
                                                                     TRAINING_STYLES["plain"])["marker"],
                      ms=11 if starred else 5, mec="black" if starred else point.get_color())
            for artist in (self._curves[name], point, self._pcm.get(name)):
                if artist is not None:
                    artist.set_visible(on)
                    if on:
                        moving.append(artist)
        for bars, runs in self._bars.values():
            chosen = [runs[n] for n in self.names if n in shown and n in runs]
            bars.set_segments([seg for segs, _ in chosen for seg in segs])
            bars.set_colors([color for segs, color in chosen for _ in segs])
            moving.append(bars)
        pts = sorted((100 * self._series[n]["clean"], 100 * self._series[n]["high"]) for n in front & shown)
        self._frontier.set_data([p[0] for p in pts], [p[1] for p in pts])
        self._frontier.set_visible(len(pts) > 1)
        pad = 0.01 * max(hi - lo, 1e-3)
        for ax in self.curve_axes.values():
            ax.set_xlim(lo - pad, hi + pad)
        if self.pcm_ax is not None:
            self._mark.set_visible(time is not None)
            self._mark_text.set_visible(time is not None)
            if time is not None:
                self._mark.set_xdata([time, time])
                self._mark_text.set_position((time, self.pcm_ax.get_ylim()[0]))
                self._mark_text.set_text(" 1 year (Fig. 5)" if abs(time / 31557600.0 - 1) < 1e-6 else " read time")
            moving += [self._mark, self._mark_text]
        keys = {self._series[n]["key"] for n in shown}
        self._set_legend([m for m in self._methods if m[0] in keys],
                         [t for t in self._trainings if any(self._series[n].get("training", "plain") == t
                                                            for n in shown)])
        set_moving_artists(self.fig, [*moving, self._frontier])
        return self.fig
