"""One plotting module for every notebook: shared method colours/labels, figure creation and saving.

Figures are built as bare :class:`matplotlib.figure.Figure` objects (never registered with pyplot), so a
widget callback can draw, render and drop them without leaking figures or showing them twice; a notebook
cell that ends with the figure still displays it. :func:`save_figure` writes ``figures_dir()/name.png``
and ``.pdf``; the notebooks and ``make reproduce`` save through it.
"""
from __future__ import annotations

import functools
import io
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from .checks import check_choice
from .methods import METHOD_COLORS, format_p, method_color, method_key, method_label  # noqa: F401 - plot helpers
from .paths import figures_dir

__all__ = [
    "METHOD_COLORS", "SamlabFigure", "method_key", "method_label", "method_color", "new_figure", "save_figure",
    "figure_png", "enable_blitting", "nice_ceiling", "format_p",
    "plot_scale_invariance", "plot_perturbation_profiles", "plot_variance_gallery",
    "plot_generalization_curves",
]

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

    A figure marked with :func:`enable_blitting` is composed from cached images of its static parts (see
    there; the last 64 kept, and the last 16 compositions), with only its moving artists drawn on top: a new
    title or y limit in one panel draws that panel's y axis and title again, not the whole figure.
    """
    state = getattr(fig, "_samlab_blit", None)
    if state is None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if fig.dpi != dpi:
        fig.set_dpi(dpi)
    renderer = canvas.get_renderer()
    size = canvas.get_width_height()
    layers = _static_layers(fig, state["static_key"], (dpi, size))
    composed = state["composed"]
    key = tuple(k for k, _ in layers)
    if key in composed:
        composed[key] = composed.pop(key)           # most recently used last
    else:
        frame = np.full((size[1], size[0], 4), 255, np.uint8)
        for layer_key, draw in layers:
            _paste_over(frame, *_static_layer(state, layer_key, renderer, draw))
        composed[key] = frame
        while len(composed) > 16:
            composed.pop(next(iter(composed)))
    np.asarray(renderer.buffer_rgba())[...] = composed[key]
    for artist in state["artists"]:
        artist.draw(renderer)
    width, height = size
    image = Image.frombuffer("RGBA", (width, height), renderer.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _static_layers(fig: Figure, static_key: Callable[[Any], tuple[Any, Any]],
                   where: tuple) -> list[tuple[tuple, Callable[[Any], None]]]:
    """``(key, draw)`` per static layer of ``fig``, bottom to top (see :func:`enable_blitting`)."""
    layers: list[tuple[tuple, Callable[[Any], None]]] = [
        (("figure", *where), functools.partial(_draw_without, fig, hidden=fig.axes))]
    legends = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        top = [ax.yaxis, *ax.spines.values(), *_titles(ax)]
        rest = [a for a in ax.get_children() if not any(a is t for t in top)]
        legend = ax.get_legend()
        bottom_key, top_key = static_key(ax)
        layers.append((("bottom", i, *where, bottom_key), functools.partial(_draw_without, ax, hidden=[*top, legend])))
        layers.append((("top", i, *where, top_key), functools.partial(_draw_without, ax, hidden=rest)))
        if legend is not None:
            texts = tuple(t.get_text() for t in legend.get_texts())
            legends.append((("legend", i, *where, id(legend), texts), legend.draw))
    return layers + legends


def _titles(ax: Any) -> list[Any]:
    """The panel's centre, left and right titles."""
    titles = (ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None))
    return [t for t in titles if t is not None]


def _draw_without(owner: Any, renderer: Any, *, hidden: Sequence[Any]) -> None:
    """Draw ``owner`` (a Figure or Axes) with the artists in ``hidden`` made invisible meanwhile."""
    shown = [a for a in hidden if a is not None and a.get_visible()]
    for artist in shown:
        artist.set_visible(False)
    try:
        owner.draw(renderer)
    finally:
        for artist in shown:
            artist.set_visible(True)


def _static_layer(state: dict, key: tuple, renderer: Any,
                  draw: Callable[[Any], None]) -> tuple[int, int, np.ndarray]:
    """``(row, column, RGBA)``: what ``draw(renderer)`` paints without the moving artists, cropped to its ink;
    cached under ``key``."""
    layers = state["layers"]
    if key in layers:
        layers[key] = layers.pop(key)              # most recently used last
        return layers[key]
    moving = [a for a in state["artists"] if a.get_visible()]
    for artist in moving:
        artist.set_visible(False)
    try:
        renderer.clear()                            # transparent
        draw(renderer)
    finally:
        for artist in moving:
            artist.set_visible(True)
    rgba = np.asarray(renderer.buffer_rgba())
    rows, cols = np.flatnonzero(rgba[..., 3].any(axis=1)), np.flatnonzero(rgba[..., 3].any(axis=0))
    if rows.size:
        layers[key] = (int(rows[0]), int(cols[0]), rgba[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy())
    else:
        layers[key] = (0, 0, np.zeros((0, 0, 4), np.uint8))
    while len(layers) > 64:
        layers.pop(next(iter(layers)))
    return layers[key]


def _paste_over(image: np.ndarray, row: int, col: int, layer: np.ndarray) -> None:
    """Composite ``layer`` (straight alpha, as Agg renders) over the opaque ``image`` at ``(row, col)``, in place."""
    h, w = layer.shape[:2]
    region = image[row:row + h, col:col + w, :3]
    if h and layer[..., 3].min() == 255:                          # opaque (the figure's background): copy
        region[...] = layer[..., :3]
        return
    alpha = layer[..., 3:4].astype(np.uint16)
    x = region * (255 - alpha) + layer[..., :3] * alpha + 128    # at most 255 * 255 + 128: fits 16 bits
    region[...] = (x + (x >> 8)) >> 8                             # round(x / 255), exactly


def enable_blitting(fig: Figure, artists: Sequence[Any], static_key: Callable[[Any], tuple[Any, Any]]) -> Figure:
    """Let :func:`figure_png` redraw only ``artists`` (the moving ones) on cached images of the static parts.

    The static parts are layered as matplotlib draws them: the figure's own artists (background, suptitle:
    drawn once per size and dpi); per panel, its bottom (background, x axis, other static artists) and its
    top (y axis, spines, titles); then the legends. ``static_key(ax)`` returns ``(bottom_key, top_key)``, what
    each depends on (e.g. ``((xlim, xlabel), (ylim, ylabel, title))``); a layer is drawn again only for a key
    not seen recently. Panels must keep their positions (no layout engine), and other static artists of a
    panel lie below its y axis.
    """
    if fig.get_layout_engine() is not None:
        raise ValueError("enable_blitting needs fixed panel positions: build the figure without a layout engine "
                         f"(got {type(fig.get_layout_engine()).__name__})")
    fig._samlab_blit = {"artists": list(artists), "static_key": static_key,  # type: ignore[attr-defined]
                        "layers": {}, "composed": {}}
    return fig


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) that is >= ``x`` > 0."""
    if not x > 0 or math.isinf(x):
        raise ValueError(f"x={x!r} must be a positive finite number")
    exp = math.floor(math.log10(x))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * 10.0 ** exp >= x * (1 - 1e-12):
            return m * 10.0 ** exp
    return 10.0 ** (exp + 1)


def _sticky_limit(hi: float | None, needed: float, *, slack: float, headroom: float) -> float:
    """The upper limit to use: ``hi`` while ``slack * hi <= needed <= hi / 1.04``, else a nice value above
    ``headroom * needed`` (so a slider drag rarely moves an axis)."""
    if hi is not None and slack * hi <= needed <= hi / 1.04:
        return hi
    return nice_ceiling(headroom * needed)


def _finish(ax, *, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None) -> None:
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3, linewidth=0.5)


# ---------------------------------------------------------------------------------------------------------
# Notebook 01: scale invariance
# ---------------------------------------------------------------------------------------------------------

def plot_scale_invariance(logits: np.ndarray, sharpness: dict[str, np.ndarray], *,
                          labels: dict[str, str] | None = None, colors: dict[str, str] | None = None,
                          title: str | None = None) -> Figure:
    """Notebook 01 (ASAM report Figs. 2-4): logits and sharpness across positive scaling transformations.

    ``logits``: (K transformations, n inputs, classes); ``sharpness``: name -> (K,) values of
    L(w + eps) - L(w). Left: the logits of each input (flat lines = same function); right: each sharpness
    relative to its mean over the K transformations (flat at 1 = scale-invariant).
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
    _finish(ax, xlabel="transformation", ylabel="logit", title="logits of a few inputs")
    for name, values in sharpness.items():
        values = np.asarray(values, dtype=float)
        col = (colors or {}).get(name)
        lab = (labels or {}).get(name, name)
        axes[0, 1].plot(k, values, lw=1.2, color=col, label=lab, marker=".", ms=3)
        mean = float(np.mean(values))
        rel = values / mean if mean != 0 else values * np.nan
        axes[0, 2].plot(k, rel, lw=1.2, color=col, label=lab, marker=".", ms=3)
    axes[0, 1].set_yscale("symlog", linthresh=1e-4)
    _finish(axes[0, 1], xlabel="transformation", ylabel=r"$L(w+\epsilon)-L(w)$", title="sharpness")
    _finish(axes[0, 2], xlabel="transformation", ylabel="sharpness / its mean", title="relative sharpness")
    fig.legend(*axes[0, 2].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


# ---------------------------------------------------------------------------------------------------------
# Notebook 02: worst-case perturbation against the weight value (SAMSON Fig. 1)
# ---------------------------------------------------------------------------------------------------------

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
        fig = SamlabFigure(figsize=(panel_size[0] * len(ordered), panel_size[1]))
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.2, top=0.86, wspace=0.32)
        axes = fig.subplots(1, len(ordered), squeeze=False)[0]
        lines = []
        for ax, profs in zip(axes, ordered.values()):
            lines.append([ax.plot([], [], marker=".", ms=4)[0] for _ in profs])
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            ax.grid(True, alpha=0.3, linewidth=0.5)
            ax.set_xlabel("weight value w")   # plain text, no mathtext: this figure is redrawn while dragging
        axes[0].set_ylabel("ε*(w)")
        state = {"shape": shape, "axes": axes, "lines": lines, "legend": None}
        fig._samlab_profiles = state  # type: ignore[attr-defined]

        def static_key(ax) -> tuple:
            return (ax.get_xlim(), ax.get_xlabel()), (ax.get_ylim(), ax.get_ylabel(), ax.get_title())

        enable_blitting(fig, [line for row in lines for line in row], static_key)
    blues = ("#9ecae1", "#4292c6", "#08519c", "#6baed6", "#2171b5")
    for ax, lines, ((method, p), profs) in zip(state["axes"], state["lines"], ordered.items()):
        j = 0
        for line, pr in zip(lines, profs):
            line.set_data(pr["w"], pr["eps"])
            if is_slider(pr):
                line.set(color="black", lw=2.2, zorder=3, label="c from the slider")
            else:
                line.set(color=blues[j % len(blues)], lw=1.2, zorder=2, label=f"c = {pr['c']:g}")
                j += 1
        title = method_label(method, p, plain=True)
        if ax.get_title() != title:
            ax.set_title(title, fontsize="medium", y=1.0)   # y given: no per-draw title placement (same place)
        # Limits move in steps and with hysteresis, so most redraws keep them and only blit the lines.
        top = max((float(np.max(pr["eps"])) for pr in profs if len(pr["eps"])), default=0.0)
        top = max(top, float((ymax or {}).get((method, p), 0.0)))
        limits = state.setdefault("limits", {})
        y_hi = limits[ax, "y"] = _sticky_limit(limits.get((ax, "y")), top if top > 0 else 1.0, slack=0.35,
                                               headroom=1.4)
        right = max([pr["c"] for pr in profs] + ([xmax] if xmax else []))
        x_hi = limits[ax, "x"] = _sticky_limit(limits.get((ax, "x")), right, slack=0.6, headroom=1.04)
        if ax.get_ylim() != (0.0, y_hi):
            ax.set_ylim(0.0, y_hi)
        if ax.get_xlim() != (-x_hi, x_hi):
            ax.set_xlim(-x_hi, x_hi)
    labels = [line.get_label() for line in state["lines"][0]]
    if state["legend"] is None or [t.get_text() for t in state["legend"].get_texts()] != labels:
        if state["legend"] is not None:
            state["legend"].remove()
        state["legend"] = state["axes"][0].legend(fontsize="x-small", loc="lower center")
    return fig


# ---------------------------------------------------------------------------------------------------------
# Notebook 03: the 2-D variance study (ASAM report Figs. 5-6)
# ---------------------------------------------------------------------------------------------------------

def plot_variance_gallery(samples: Sequence[tuple[float, np.ndarray, np.ndarray]], *,
                          ncols: int = 3, lim: float | None = None) -> Figure:
    """Notebook 03 (ASAM report Fig. 6): scatter of the 2-D data set for several variances.

    ``samples``: (variance, X of shape (n, 2), y of shape (n,)) triples.
    """
    n = len(samples)
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = new_figure(nrows, min(ncols, n), panel_size=(2.6, 2.6), sharex=True, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (var, x, y) in zip(axes.flat, samples):
        x, y = np.asarray(x), np.asarray(y)
        for cls, col in ((0, "#1f77b4"), (1, "#d62728")):
            sel = y == cls
            ax.scatter(x[sel, 0], x[sel, 1], s=2, alpha=0.5, color=col, label=f"class {cls}", rasterized=True)
        if lim is not None:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        _finish(ax, title=rf"$\sigma^2 = {var:g}$")
    axes.flat[0].legend(fontsize="x-small", markerscale=4, loc="upper right")
    return fig


def plot_generalization_curves(test_variances: Sequence[float], curves: dict[float, dict[str, np.ndarray]], *,
                               labels: dict[str, str] | None = None, colors: dict[str, str] | None = None,
                               band: str = "min-max", ncols: int | None = None,
                               reference: Sequence[float] | None = None,
                               reference_label: str = "Bayes error") -> Figure:
    """Notebook 03 (ASAM report Fig. 5a-e): test error against test variance, one panel per training variance.

    ``curves[train_variance][method]`` is an array (seeds, len(test_variances)) of test errors; the line is
    the mean over seeds and the band spans ``band`` (``'min-max'`` or ``'std'``: mean +- one standard deviation).
    ``reference`` (one value per test variance, e.g. the Bayes error) is drawn as a dashed black line.
    """
    check_choice("band", band, ("min-max", "std"))
    tv = np.asarray(test_variances, dtype=float)
    n = len(curves)
    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(nrows, ncols, panel_size=(3.0, 2.6), sharex=True, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (train_var, per_method) in zip(axes.flat, curves.items()):
        for name, errs in per_method.items():
            errs = np.atleast_2d(np.asarray(errs, dtype=float)) * 100
            mean = errs.mean(axis=0)
            if band == "std":
                lo, hi = mean - errs.std(axis=0), mean + errs.std(axis=0)
            else:
                lo, hi = errs.min(axis=0), errs.max(axis=0)
            col = (colors or {}).get(name)
            ax.plot(tv, mean, lw=1.4, color=col, label=(labels or {}).get(name, name))
            if errs.shape[0] > 1:
                ax.fill_between(tv, lo, hi, color=col, alpha=0.18, linewidth=0)
        if reference is not None:
            ax.plot(tv, np.asarray(reference, dtype=float) * 100, color="k", lw=0.9, ls="--", label=reference_label)
        ax.axvline(train_var, color="k", lw=0.8, ls=":")
        _finish(ax, xlabel=r"test variance $\sigma^2$", title=rf"trained on $\sigma^2 = {train_var:g}$")
    for row in axes:
        row[0].set_ylabel("test error (%)")
    axes.flat[0].legend(fontsize="x-small", loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------------------
# Notebook 04: CIFAR training (ASAM report Fig. 7; ESAM Table 1 and Fig. 3)
# ---------------------------------------------------------------------------------------------------------

from matplotlib.ticker import MaxNLocator  # noqa: E402 - notebook 04's integer epoch ticks


def plot_learning_curves(curves: Sequence[dict], *, ncols: int = 3, title: str | None = None,
                         panel_size: tuple[float, float] = (3.0, 2.4)) -> Figure:
    """Notebook 04 (ASAM report Fig. 7): train (dashed) and test (solid) accuracy per epoch, one panel per run.

    ``curves``: dicts with ``label``, ``key`` (colour key, see :data:`METHOD_COLORS`), ``epoch``,
    ``train_acc`` and ``test_acc`` (fractions; plotted in percent). Panels share both axes.
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
        col = METHOD_COLORS.get(c.get("key", ""), "#17becf")
        ep = np.asarray(c["epoch"])
        ax.plot(ep, 100 * np.asarray(c["train_acc"], dtype=float), ls="--", lw=1.3, color=col, label="train")
        ax.plot(ep, 100 * np.asarray(c["test_acc"], dtype=float), ls="-", lw=1.6, color=col, label="test")
        _finish(ax, title=c["label"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for row in axes:
        row[0].set_ylabel("accuracy (%)")
    axes.flat[0].legend(fontsize="x-small", loc="lower right")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_esam_study(study: dict[str, dict], *, references: Sequence[dict] = (), title: str | None = None) -> Figure:
    """Notebook 04 (ESAM Fig. 3): test accuracy (top) and training images/s (bottom) against β (SWP) and γ (SDS).

    ``study[name]``: ``x``, ``acc`` (fractions), ``images_per_s``, ``xlabel``. ``references``: dicts with
    ``label``, ``key``, ``acc``, ``images_per_s`` drawn as dotted horizontal lines (the paper's isolated dots).
    """
    names = list(study)
    if not names:
        raise ValueError("study is empty: nothing to plot")
    fig, axes = new_figure(2, len(names), panel_size=(3.4, 2.4), sharex="col", sharey="row")
    for j, name in enumerate(names):
        s = study[name]
        order = np.argsort(s["x"])
        x = np.asarray(s["x"], dtype=float)[order]
        for i, (field, scale, ylabel) in enumerate((("acc", 100.0, "test accuracy (%)"),
                                                    ("images_per_s", 1.0, "images / s"))):
            ax = axes[i, j]
            y = np.asarray(s[field], dtype=float)[order] * scale
            ax.plot(x, y, marker="o", ms=4, lw=1.4, color=METHOD_COLORS["esam"], label=f"ESAM-{name}")
            for ref in references:
                ax.axhline(ref[field] * scale, ls=":", lw=1.2, color=METHOD_COLORS.get(ref.get("key", ""), "k"),
                           label=ref["label"])
            _finish(ax, ylabel=ylabel if j == 0 else None, xlabel=s["xlabel"] if i == 1 else None,
                    title=f"ESAM-{name}" if i == 0 else None)
    axes[0, 0].legend(fontsize="x-small", loc="best")
    if title:
        fig.suptitle(title, fontsize="medium")
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
    ax.barh(y + 0.2, ours, height=0.38, color=[METHOD_COLORS.get(r.get("key", ""), "#17becf") for r in rows],
            label="ours")
    paper = [100 * r["paper_ratio"] if r.get("paper_ratio") is not None else np.nan for r in rows]
    ax.barh(y - 0.2, paper, height=0.38, color="white", edgecolor="k", hatch="///", label="paper (ESAM Table 1)")
    for yi, v in zip(y, ours):
        ax.text(v, yi + 0.2, f" {v:.0f}%", va="center", fontsize="x-small")
    ax.axvline(100, color="k", lw=0.8)
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.invert_yaxis()
    _finish(ax, xlabel=f"training images/s relative to {reference} (%)")
    ax.legend(fontsize="x-small", loc="lower right")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig

__all__ += ["plot_learning_curves", "plot_esam_study", "plot_throughput"]
