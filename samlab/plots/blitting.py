"""Fast slider redraws (notebook 02): compose cached images of a figure's static parts, draw only what moves.

:func:`enable_blitting` marks a figure; :func:`samlab.plots.figure_png` then calls :func:`blitted_png`, which
pastes cached RGBA images of the static layers (composited with Pillow's ``alpha_composite``) into the Agg
buffer and draws only the moving artists on top. Images of the layers (the last 64) and of their
compositions (the last 16) are kept, so a new title or y limit in one panel draws that panel's y axis and
title again, not the whole figure.
"""
from __future__ import annotations

import functools
import io
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["enable_blitting", "set_moving_artists", "blitted_png", "show_legend"]

_MAX_LAYERS, _MAX_COMPOSED = 64, 16


def enable_blitting(fig: Figure, artists: Sequence[Any], static_key: Callable[[Any], tuple[Any, Any]], *,
                    shared_bottoms: bool = False) -> Figure:
    """Let :func:`samlab.plots.figure_png` redraw only ``artists`` (the moving ones) on cached images of the rest.

    The static parts are layered as matplotlib draws them: the figure's own artists (background and figure
    legends: drawn once per size, dpi and legend entries), its suptitle (once per text); per panel, its bottom (background,
    x axis, other static artists), its top (y axis, spines, titles) and its lines that are not in ``artists`` (keyed by their data and style,
    so a slider that moves one line of four draws one); then the legends. ``static_key(ax)`` returns ``(bottom_key, top_key)``, what
    each depends on (e.g. ``((xlim, xlabel), (ylim, ylabel, title))``); a layer is drawn again only for a key
    not seen recently. Panels must keep their positions (no layout engine), and other static artists of a
    panel lie below its y axis.

    ``shared_bottoms``: panels of the same size whose bottom keys are equal draw the same bottom layer (their
    static content below the y axis is the same, e.g. three panels with one x axis): it is drawn once and placed
    at each panel (a move of a shared x range then draws one x axis, not three).
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    engine = fig.get_layout_engine()
    if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):   # a frozen layout is fixed
        raise ValueError("enable_blitting needs fixed panel positions: build the figure without a layout engine "
                         f"(got {type(fig.get_layout_engine()).__name__})")
    fig._samlab_blit = {"artists": list(artists), "static_key": static_key,  # type: ignore[attr-defined]
                        "layers": {}, "composed": {}, "shared": bool(shared_bottoms)}
    return fig


def set_moving_artists(fig: Figure, artists: Sequence[Any]) -> None:
    """Change which artists of a blitted figure move (drawn on every render); its other lines become a cached
    layer per panel, drawn again only when their data or style change."""
    fig._samlab_blit["artists"] = list(artists)  # type: ignore[attr-defined]


def show_legend(fig: Figure, legends: dict, key: Any, make: Callable[[], Any]) -> None:
    """Make ``fig``'s one figure legend the one kept in ``legends`` under ``key`` (``make()`` builds it the first
    time): the same legend object for the same selection, so the figure layer, keyed by its legend, is drawn
    once per selection."""
    if key not in legends:
        fig.legends.clear()
        legends[key] = make()
    fig.legends[:] = [legends[key]]


def blitted_png(fig: Figure, dpi: int) -> bytes:
    """PNG bytes of a figure marked by :func:`enable_blitting`: cached static layers plus its moving artists."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    state = fig._samlab_blit  # type: ignore[attr-defined]
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if fig.dpi != dpi:
        fig.set_dpi(dpi)
    renderer = canvas.get_renderer()
    width, height = canvas.get_width_height()
    layers = _static_layers(fig, state["static_key"], (dpi, (width, height)))
    composed = state["composed"]
    key = tuple((k, origin) for k, _, origin in layers)
    if key in composed:
        composed[key] = composed.pop(key)           # most recently used last
    else:
        frame = Image.new("RGBA", (width, height), (255, 255, 255, 255))
        for layer_key, draw, origin in layers:
            row, col, image = (_static_layer(state, layer_key, renderer, draw) if origin is None
                               else _shared_layer(state, layer_key, renderer, draw, origin))
            if image is not None:
                frame.alpha_composite(image, dest=(col, row))   # straight alpha, as Agg renders
        composed[key] = np.asarray(frame)
        while len(composed) > _MAX_COMPOSED:
            composed.pop(next(iter(composed)))
    np.asarray(renderer.buffer_rgba())[...] = composed[key]
    for artist in state["artists"]:
        artist.draw(renderer)
    image = Image.frombuffer("RGBA", (width, height), renderer.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="png", compress_level=1)   # opaque: RGB is ~10 % smaller and faster
    return buf.getvalue()


def _static_layers(fig: Figure, static_key: Callable[[Any], tuple[Any, Any]],
                   where: tuple) -> list[tuple[tuple, Callable[[Any], None], Any]]:
    """``(key, draw, origin)`` per static layer of ``fig``, bottom to top (see :func:`enable_blitting`); origin:
    the (row, column) of the panel a shared layer is placed at, None for the others."""
    title = fig._suptitle if fig._suptitle is not None and fig._suptitle.get_visible() else None
    layers: list[tuple[tuple, Callable[[Any], None], Any]] = [
        (("figure", *where, _legends_look(fig)), functools.partial(_draw_without, fig, hidden=[*fig.axes, title]),
         None)]
    if title is not None:       # its own layer: a title that names a slider's value does not redraw the legends
        layers.append((("suptitle", *where, title.get_text()), title.draw, None))
    legends = []
    moving = fig._samlab_blit["artists"]  # type: ignore[attr-defined]
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        top = [ax.yaxis, *ax.spines.values(), *_titles(ax)]
        rest = [a for a in ax.get_children() if not any(a is t for t in top)]
        still = [ln for ln in ax.lines if ln.get_visible() and not any(ln is a for a in moving)]
        legend = ax.get_legend()
        bottom_key, top_key = static_key(ax)
        bottom = functools.partial(_draw_without, ax, hidden=[*top, legend, *still])
        if fig._samlab_blit.get("shared"):  # type: ignore[attr-defined]
            origin = (round(where[1][1] - ax.bbox.y1), round(ax.bbox.x0))      # (row, column) of the panel
            size = (round(ax.bbox.width), round(ax.bbox.height))
            layers.append((("shared", size, *where, bottom_key), bottom, origin))
        else:
            layers.append((("bottom", i, *where, bottom_key), bottom, None))
        layers.append((("top", i, *where, top_key), functools.partial(_draw_without, ax, hidden=rest), None))
        if still:
            layers.append((("lines", i, *where, _lines_key(still)), functools.partial(_draw_each, still), None))
        if legend is not None:
            texts = tuple(t.get_text() for t in legend.get_texts())
            legends.append((("legend", i, *where, id(legend), texts), legend.draw, None))
    return layers + legends


def _legends_look(fig: Figure) -> tuple:
    """What the figure's legends show: their entries (a change draws the figure's layer again)."""
    return tuple((id(leg), tuple(t.get_text() for t in leg.get_texts()),
                  tuple(str(h.get_color()) for h in leg.legend_handles if hasattr(h, "get_color")))
                 for leg in fig.legends)


def _lines_key(lines: Sequence[Any]) -> tuple:
    """What the static lines of a panel look like: their data and style (a changed line draws its layer again)."""
    return tuple((id(ln), hash(np.asarray(ln.get_xydata()).tobytes()), str(ln.get_color()), ln.get_linewidth(),
                  ln.get_linestyle(), ln.get_marker(), ln.get_markersize(), ln.get_zorder()) for ln in lines)


def _draw_each(artists: Sequence[Any], renderer: Any) -> None:
    for artist in sorted(artists, key=lambda a: a.get_zorder()):
        artist.draw(renderer)


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


def _shared_layer(state: dict, key: tuple, renderer: Any, draw: Callable[[Any], None],
                  origin: tuple[int, int]) -> tuple[int, int, Any]:
    """A shared panel layer (see :func:`enable_blitting`): drawn by the first panel that needs it, kept relative
    to the panel's origin, placed at ``origin``."""
    layers = state["layers"]
    if key in layers:
        layers[key] = layers.pop(key)              # most recently used last
    else:
        row, col, image = _static_layer(state, ("at", origin, key), renderer, draw)
        layers.pop(("at", origin, key), None)
        layers[key] = (row - origin[0], col - origin[1], image)
    row, col, image = layers[key]
    return row + origin[0], col + origin[1], image


def _static_layer(state: dict, key: tuple, renderer: Any, draw: Callable[[Any], None]) -> tuple[int, int, Any]:
    """``(row, column, RGBA image or None)``: what ``draw(renderer)`` paints without the moving artists,
    cropped to its ink; cached under ``key``."""
    from PIL import Image

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
        crop = rgba[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy()   # the buffer is reused
        layers[key] = (int(rows[0]), int(cols[0]), Image.fromarray(crop, "RGBA"))
    else:
        layers[key] = (0, 0, None)
    while len(layers) > _MAX_LAYERS:
        layers.pop(next(iter(layers)))
    return layers[key]
