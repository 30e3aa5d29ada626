"""Notebook 02 (SAMSON Fig. 1): the worst-case perturbation against the weight value, redrawn while dragging."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from ..methods import method_label
from .blitting import enable_blitting, set_moving_artists
from .core import SamlabFigure, sticky_limit

__all__ = ["plot_perturbation_profiles"]

_BLUES = ("#9ecae1", "#4292c6", "#08519c", "#6baed6", "#2171b5")


def plot_perturbation_profiles(profiles: Sequence[dict], *, highlight: float | None = None,
                               fig: Figure | None = None, ymax: dict | None = None, xmax: float | None = None,
                               panel_size: tuple[float, float] = (2.6, 2.3)) -> Figure:
    """Notebook 02 (SAMSON Fig. 1): one panel per method, eps* against w, one line per weight range c.

    ``profiles``: dicts with keys ``method``, ``p``, ``c``, ``w`` (sorted weights), ``eps`` and optionally
    ``slider``; the lines marked ``slider`` (or whose ``c`` equals ``highlight``) are drawn thick and black,
    the others thin and blue. Passing the ``fig``
    a previous call returned updates its lines in place when the panels match (what makes a slider redraw
    cheap: tick and text objects are reused); otherwise a new figure is built. ``ymax`` (per panel key
    ``(method, p)``) and ``xmax`` widen the axes to cover a slider's whole range, so dragging it keeps them.
    """
    panels: dict[tuple[str, float | None], list[dict]] = {}
    for prof in profiles:
        panels.setdefault((prof["method"], prof.get("p")), []).append(prof)
    flagged = any("slider" in pr for pr in profiles)

    def is_slider(pr: dict) -> bool:
        if flagged:
            return bool(pr.get("slider"))
        return highlight is not None and math.isclose(pr["c"], highlight)

    ordered = {key: sorted(profs, key=lambda pr: (is_slider(pr), pr["c"])) for key, profs in panels.items()}
    shape = tuple(len(v) for v in ordered.values())
    state = getattr(fig, "_samlab_profiles", None) if fig is not None else None
    if state is None or state["shape"] != shape:
        fig, state = _new_profile_figure(len(ordered), [len(v) for v in ordered.values()], panel_size)
    for ax, lines, ((method, p), profs) in zip(state["axes"], state["lines"], ordered.items()):
        j = 0
        for line, pr in zip(lines, profs):
            line.set_data(pr["w"], pr["eps"])
            if is_slider(pr):
                line.set(color="black", lw=2.2, zorder=3, label="c from the slider")
            else:
                line.set(color=_BLUES[j % len(_BLUES)], lw=1.2, zorder=2, label=f"c = {pr['c']:g}")
                j += 1
        title = method_label(method, p, plain=True)
        if ax.get_title() != title:
            ax.set_title(title, fontsize="medium", y=1.0)   # y given: no per-draw title placement (same place)
        # Limits move in steps and with hysteresis, so most redraws keep them and only blit the lines.
        top = max((float(np.max(pr["eps"])) for pr in profs if len(pr["eps"])), default=0.0)
        top = max(top, float((ymax or {}).get((method, p), 0.0)))
        limits = state.setdefault("limits", {})
        y_hi = limits[ax, "y"] = sticky_limit(limits.get((ax, "y")), top if top > 0 else 1.0, slack=0.35,
                                              headroom=1.4)
        right = max([pr["c"] for pr in profs] + ([xmax] if xmax else []))
        x_hi = limits[ax, "x"] = sticky_limit(limits.get((ax, "x")), right, slack=0.6, headroom=1.04)
        if ax.get_ylim() != (0.0, y_hi):
            ax.set_ylim(0.0, y_hi)
        if ax.get_xlim() != (-x_hi, x_hi):
            ax.set_xlim(-x_hi, x_hi)
    # Dragging c moves only the slider's lines: the paper's ranges then come from a cached layer per panel. A
    # panel whose other lines change too (rho, a new p) draws all its lines directly, which is cheaper than
    # drawing a layer to cache.
    moving, fixed = [], state.setdefault("fixed", {})
    for i, (lines, profs) in enumerate(zip(state["lines"], ordered.values())):
        key = hash(tuple((pr["method"], pr.get("p"), pr["c"], np.asarray(pr["eps"]).tobytes())
                         for pr in profs if not is_slider(pr)))
        unchanged, fixed[i] = fixed.get(i) == key, key
        moving += [line for line, pr in zip(lines, profs) if is_slider(pr) or not unchanged]
    set_moving_artists(fig, moving)
    labels = [line.get_label() for line in state["lines"][0]]
    if state["legend"] is None or [t.get_text() for t in state["legend"].get_texts()] != labels:
        if state["legend"] is not None:
            state["legend"].remove()
        state["legend"] = state["axes"][0].legend(fontsize="x-small", loc="lower center")
    return fig


def _new_profile_figure(n_panels: int, lines_per_panel: Sequence[int],
                        panel_size: tuple[float, float]) -> tuple[Figure, dict]:
    """A fixed-layout figure (blitting needs fixed panels) with empty lines, marked for blitted redraws."""
    fig = SamlabFigure(figsize=(panel_size[0] * n_panels, panel_size[1]))
    fig.subplots_adjust(left=0.06, right=0.975, bottom=0.2, top=0.86, wspace=0.32)   # room for the last x label
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    lines = []
    for ax, n_lines in zip(axes, lines_per_panel):
        lines.append([ax.plot([], [], marker=".", ms=4)[0] for _ in range(n_lines)])
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.grid(True, alpha=0.3, linewidth=0.5)
        ax.set_xlabel("weight value w")   # plain text, no mathtext: this figure is redrawn while dragging
    axes[0].set_ylabel("ε*(w)")
    state = {"shape": tuple(lines_per_panel), "axes": axes, "lines": lines, "legend": None}
    fig._samlab_profiles = state  # type: ignore[attr-defined]

    def static_key(ax) -> tuple:
        return (ax.get_xlim(), ax.get_xlabel()), (ax.get_ylim(), ax.get_ylabel(), ax.get_title())

    enable_blitting(fig, [line for row in lines for line in row], static_key)
    return fig, state
