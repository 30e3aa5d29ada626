"""The shared core of :mod:`samlab.plots`: figure creation, saving, rendering and axis helpers.

Figures are built as bare :class:`matplotlib.figure.Figure` objects (never registered with pyplot), so a
widget callback can draw, render and drop them without leaking figures or showing them twice; a notebook
cell that ends with the figure still displays it. :func:`save_figure` writes ``figures_dir()/name.png``
and ``.pdf``; the notebooks and ``make reproduce`` save through it.
"""
from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

from ..checks import check_choice
from ..paths import figures_dir
from .blitting import blitted_png

__all__ = ["SamlabFigure", "new_figure", "save_figure", "figure_png", "nice_ceiling"]


class SamlabFigure(Figure):
    """A pyplot-free Figure that shows itself as a PNG in a notebook (a cell ending with ``fig``)."""

    def _repr_png_(self) -> bytes:
        return figure_png(self, dpi=100)


def new_figure(nrows: int = 1, ncols: int = 1, *, panel_size: tuple[float, float] = (3.6, 2.8),
               sharex: bool | str = False, sharey: bool | str = False, squeeze: bool = False,
               **kwargs) -> tuple[Figure, np.ndarray]:
    """A pyplot-free figure with ``nrows x ncols`` panels of ``panel_size`` inches and constrained layout."""
    fig = SamlabFigure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze, **kwargs)
    return fig, axes


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def save_figure(fig: Figure, name: str, *, dpi: int = 150, formats: Iterable[str] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` to ``figures_dir()/name.<fmt>`` for each format (PNG and PDF); return the paths."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith((".png", ".pdf")):
        raise ValueError(f"name={name!r} must be a plain file stem (letters, digits, '_', '-', '.'), no extension")
    out = figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        check_choice("format", fmt, ("png", "pdf", "svg"))
        path = out / f"{name}.{fmt}"
        meta = {"CreationDate": None} if fmt == "pdf" else {}   # no timestamp: regenerating gives the same file
        fig.savefig(path, dpi=dpi, format=fmt, metadata=meta)
        paths.append(path)
    return paths


def figure_png(fig: Figure, *, dpi: int = 80) -> bytes:
    """Render ``fig`` to PNG bytes (what a widget shows).

    A figure marked with :func:`samlab.plots.blitting.enable_blitting` is composed from cached images of its
    static parts with only its moving artists drawn on top (see there); any other figure is drawn in full.
    """
    if getattr(fig, "_samlab_blit", None) is not None:
        return blitted_png(fig, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})   # 2x faster than 6, ~3 % larger
    return buf.getvalue()


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) that is >= ``x`` > 0."""
    if not x > 0 or math.isinf(x):
        raise ValueError(f"x={x!r} must be a positive finite number")
    exp = math.floor(math.log10(x))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * 10.0 ** exp >= x * (1 - 1e-12):
            return m * 10.0 ** exp
    return 10.0 ** (exp + 1)


def sticky_limit(hi: float | None, needed: float, *, slack: float, headroom: float) -> float:
    """The upper limit to use: ``hi`` while ``slack * hi <= needed <= hi / 1.04``, else a nice value above
    ``headroom * needed`` (so a slider drag rarely moves an axis)."""
    if hi is not None and slack * hi <= needed <= hi / 1.04:
        return hi
    return nice_ceiling(headroom * needed)


def finish_axes(ax: Any, *, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None) -> None:
    """Labels, a small title and a light grid: how every samlab panel looks."""
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3, linewidth=0.5)


def readable_log_axis(ax: Any, which: str = "y") -> None:
    """Give a log axis at least two labelled ticks.

    Data spanning less than a decade shows one power of ten (or none) with matplotlib's default ticks;
    then 1, 2 and 5 times each power are labelled, and if that is still fewer than two, every integer
    multiple.
    """
    check_choice("which", which, ("x", "y"))
    axis = ax.yaxis if which == "y" else ax.xaxis
    ax.autoscale_view()
    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())

    def labelled(subs: tuple[float, ...]) -> int:
        ticks = LogLocator(base=10.0, subs=subs).tick_values(lo, hi)
        return int(np.sum((ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))))

    if lo <= 0 or labelled((1.0,)) >= 2:
        return
    subs = (1.0, 2.0, 5.0) if labelled((1.0, 2.0, 5.0)) >= 2 else tuple(float(s) for s in range(1, 10))
    axis.set_major_locator(LogLocator(base=10.0, subs=subs))
    axis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(math.inf, math.inf)))
    axis.set_minor_locator(LogLocator(base=10.0, subs=tuple(float(s) for s in range(1, 10))))
    axis.set_minor_formatter(NullFormatter())


def set_suptitle(fig: Figure, title: str | None, *, fontsize: float = 10.0) -> None:
    """A figure title wrapped to the figure's width (a long title is never cut off at the edges); the title's own
    line breaks are kept."""
    if not title:
        return
    import textwrap

    chars = max(20, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))   # average glyph ~0.55 em wide
    lines = [part for line in title.splitlines() for part in (textwrap.wrap(line, chars) or [""])]
    fig.suptitle("\n".join(lines), fontsize=fontsize)


def _shown_length(label: str) -> int:
    """Characters ``label`` shows once rendered: a mathtext command (``\\infty``) is one glyph, ``$ _ ^ { }`` none."""
    return len(re.sub(r"[$_^{}]", "", re.sub(r"\\[A-Za-z]+", "x", label)))


def legend_outside(fig: Figure, axes: Iterable[Any], **kwargs) -> Any:
    """One figure legend below the panels (never over the data, never in the way of a title), each label once,
    in as many columns as fit the figure's width (so a long legend does not squeeze the panels)."""
    from matplotlib.font_manager import FontProperties

    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if not handles:
        return None
    kwargs.setdefault("fontsize", "small")
    em = FontProperties(size=kwargs["fontsize"]).get_size_in_points() / 72            # inches
    widest = max(_shown_length(label) for label in handles)
    entry = (2.0 + 0.8 + 2.0) * em + 0.6 * em * widest   # handle, pad, column spacing; glyphs ~0.6 em wide
    per_row = max(1, int(0.95 * fig.get_figwidth() / entry))
    kwargs.setdefault("ncols", min(len(handles), per_row))
    return fig.legend(list(handles.values()), list(handles), loc="outside lower center", **kwargs)
