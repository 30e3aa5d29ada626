"""The interactive-figure machinery every explorer uses: :class:`Explorer` and :func:`interactive_figure`.

Wiring is ipywidgets' own :func:`ipywidgets.interactive_output`: it observes the controls' ``value`` and calls
the callback inside its ``Output`` (here ``ui.progress``), so whatever a draw prints, its progress bars and
warnings, appears there while it runs. The figure goes to a second ``Output`` (``out``), and only by assigning its
``outputs`` in one piece: an ``Output`` is never both captured into and assigned to, because in a browser the
front end saves what it captured *after* the kernel's assignment and would overwrite the figure with it.

On top of ``interactive_output``:

* the draw function *returns* what to show (a Figure, a string, an object with ``_repr_html_``, or a list); it
  is rendered to PNG/HTML and the figure dropped (no pyplot figure is left open). A draw therefore also works
  headless: tests set ``.value`` and read ``out.outputs``;
* an exception is shown as one line in the output (a ``ValueError`` as "Cannot draw: ...", anything else with
  its type and, folded away, the last frames of its traceback), never as a traceback that hides the figure;
* ``hold()`` (and ``dependents=``) change several controls with one redraw: one change, one redraw;
* slow draws get a Run button: with ``needs_run(**values)`` True the output says what a click would compute;
  cached settings redraw at once. (``interact_manual`` would make every setting wait for a click.)
* every drawn frame is kept (``cache`` frames, least recently used dropped) by the controls' values: a state seen
  before is shown again without drawing (a drag back and forth, a dropdown revisited). Run empties the cache
  (it computes something new); so does ``forget()``, for a store changed elsewhere.
"""
from __future__ import annotations

import base64
import collections
import contextlib
import html
import io
import math
import time
import traceback
from typing import Any, Callable, Iterator, Mapping, Sequence

import ipywidgets as W

from ..plots import figure_png

__all__ = ["Explorer", "interactive_figure", "render_outputs", "error_output", "message_output", "figure_png_sized",
           "stacked_png_bundle"]


# ------------------------------------------------------------------------------------------------ rendering

def figure_png_sized(fig: Any, *, dpi: int = 80, min_width_px: int = 0) -> bytes:
    """The PNG an explorer shows for ``fig`` (at least ``min_width_px`` wide), as bytes: what a widget caches."""
    width_in = float(fig.get_figwidth())
    short = min_width_px / (width_in * dpi) if width_in > 0 else 1.0
    if short > 1 and getattr(fig, "_samlab_blit", None) is not None:   # a reused figure: never resized (it
        return figure_png(fig, dpi=math.ceil(min_width_px / width_in))   # would grow at every redraw)
    if short > 1:   # too narrow: half of the factor in size (smaller fonts), half in dpi (sharper)
        grow = math.sqrt(short)
        fig.set_size_inches(width_in * grow, fig.get_figheight() * grow)
        dpi = math.ceil(min_width_px / (width_in * grow))
    return figure_png(fig, dpi=dpi)


def _png_bundle(png: bytes, text: str) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}}


def stacked_png_bundle(pngs: Sequence[bytes]) -> dict:
    """PNG images (bytes) stacked top to bottom into ONE output bundle (an explorer shows one figure per change)."""
    from PIL import Image

    images = [Image.open(io.BytesIO(b)) for b in pngs]
    canvas = Image.new("RGBA", (max(i.width for i in images), sum(i.height for i in images)), "white")
    top = 0
    for image in images:
        canvas.paste(image.convert("RGBA"), (0, top))
        top += image.height
    buf = io.BytesIO()
    canvas.convert("RGB").save(buf, format="PNG", compress_level=1)   # level 1: a few % larger, 2x faster
    return _png_bundle(buf.getvalue(), f"{len(images)} figures")


def message_output(text: str, *, color: str | None = None) -> dict:
    """A one-paragraph message as HTML that wraps between words (plain text kept for tests and nbconvert)."""
    style = "white-space: normal; word-break: normal; overflow-wrap: break-word; margin: 0.3em 0;"
    if color:
        style += f" color: {color};"
    return {"output_type": "display_data",
            "data": {"text/html": f'<div style="{style}">{html.escape(text)}</div>', "text/plain": text},
            "metadata": {}}


def error_output(exc: BaseException) -> dict:
    """One line for ``exc``: "Cannot draw: ..." for a ValueError, else its type and message (traceback folded)."""
    if isinstance(exc, ValueError):
        return message_output(f"Cannot draw: {exc}", color="#b00020")
    plain = f"{type(exc).__name__}: {exc}"
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-3))
    body = (f'<div style="color:#b00020; white-space: normal"><b>{html.escape(type(exc).__name__)}:</b> '
            f'{html.escape(str(exc))} <details><summary>traceback</summary><pre>{html.escape(tb)}</pre>'
            f'</details></div>')
    return {"output_type": "display_data", "data": {"text/html": body, "text/plain": plain}, "metadata": {}}


def render_outputs(result: Any, *, dpi: int = 80, min_width_px: int = 0) -> tuple[dict, ...]:
    """Turn what a draw function returned into output bundles.

    A Figure becomes a PNG (at least ``min_width_px`` wide), a list of Figures one PNG of them stacked, a one-line
    string a wrapping HTML message, a
    string of several lines (a table) preformatted text, an object with ``_repr_html_`` its HTML; an output
    bundle (a dict with ``output_type``) passes through.
    """
    from matplotlib.figure import Figure

    items = result if isinstance(result, (list, tuple)) else [result]
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, dict) and "output_type" in item:   # already rendered (e.g. cached by the caller)
            out.append(item)
        elif isinstance(item, (list, tuple)) and item and all(isinstance(f, Figure) for f in item):
            out.append(stacked_png_bundle([figure_png_sized(f, dpi=dpi, min_width_px=min_width_px)
                                           for f in item]))   # several figures shown as one image
        elif isinstance(item, Figure):
            out.append(_png_bundle(figure_png_sized(item, dpi=dpi, min_width_px=min_width_px), repr(item)))
        elif isinstance(item, str) and "\n" not in item.rstrip("\n"):
            out.append(message_output(item.rstrip("\n")))
        elif hasattr(item, "_repr_html_") and not isinstance(item, str):
            html_text = item._repr_html_()
            out.append({"output_type": "display_data", "data": {"text/html": html_text, "text/plain": str(item)},
                        "metadata": {}})
        else:
            text = str(item)
            text = text if text.endswith("\n") else text + "\n"
            out.append({"output_type": "stream", "name": "stdout", "text": text})
    return tuple(out)


# ----------------------------------------------------------------------------------------------- Explorer

class Explorer(W.VBox):
    """Controls, an optional Run button, a ``progress`` Output (prints, progress bars) and a figure Output.

    Built by :func:`interactive_figure`; display it in a notebook. Public attributes: ``controls`` (name ->
    widget), ``out`` (the figure), ``progress`` (what a draw prints), ``button`` (or None), ``redraws`` (how many
    redraws ran; tests count them), ``timing`` (``{"last_redraw_ms": ...}``: draw plus rendering).
    """

    def __init__(self, draw: Callable[..., Any], controls: Mapping[str, W.ValueWidget], *,
                 continuous: bool = False, needs_run: Callable[..., bool] | None = None,
                 run_label: str = "Run", describe_run: Callable[..., str] | None = None,
                 dependents: Mapping[str, Callable[[Any], None]] | None = None,
                 dpi: int = 80, min_width_px: int = 0, columns: int = 3, show_time: bool = False,
                 cache: int = 64) -> None:
        if not controls:
            raise ValueError("controls must name at least one widget")
        for name, w in controls.items():
            if not hasattr(w, "value"):
                raise ValueError(f"controls[{name!r}] is a {type(w).__name__}, not a value widget")
            if hasattr(w, "continuous_update"):
                w.continuous_update = bool(continuous)
        for name in dependents or {}:
            if name not in controls:
                raise ValueError(f"dependents names {name!r}, which is not one of the controls {list(controls)}")
        self.controls = dict(controls)
        self.out = W.Output()
        self.button = W.Button(description=run_label, button_style="primary", icon="play") if needs_run else None
        self.redraws = 0
        self.timing: dict[str, float] = {}
        if not isinstance(cache, int) or isinstance(cache, bool) or cache < 0:
            raise ValueError(f"cache={cache!r} must be a whole number of frames >= 0 (0: no cache)")
        self._cache_size = cache
        self._frames: collections.OrderedDict[tuple, tuple[dict, ...]] = collections.OrderedDict()
        self._draw, self._needs_run, self._describe_run = draw, needs_run, describe_run
        self._run_label, self._dpi, self._min_width, self._show_time = run_label, dpi, min_width_px, show_time
        self._held, self._pending = 0, False
        # dependents first: traitlets calls observers in the order they were registered, so a control that
        # others follow has them set (without redrawing) before interactive_output's observer redraws once
        for name, follow in (dependents or {}).items():
            self.controls[name].observe(lambda change, follow=follow: self._follow(follow, change["new"]),
                                        names="value")
        self.progress = W.interactive_output(self._on_change, self.controls)
        widgets = list(self.controls.values())
        rows: list[W.Widget] = [W.HBox(widgets[i:i + columns]) for i in range(0, len(widgets), columns)]
        if self.button is not None:
            self.button.on_click(lambda _b: self.run())
            rows.append(self.button)
        super().__init__([*rows, self.progress, self.out])

    # ---------------------------------------------------------------------------------------- callbacks
    def values(self) -> dict[str, Any]:
        """The controls' current values, by name."""
        return {k: w.value for k, w in self.controls.items()}

    def relabel(self, name: str, options: Sequence[tuple[str, Any]]) -> None:
        """Give the choice control ``name`` new option labels (the same values, in the same order), keeping its
        value and without a redraw: e.g. a "(not stored)" that Run has made untrue."""
        w = self.controls[name]
        options = [(str(label), value) for label, value in options]
        old = [o[1] if isinstance(o, tuple) else o for o in w.options]
        if [v for _, v in options] != old:
            raise ValueError(f"relabel keeps the values of {name!r}: {old}; got {[v for _, v in options]}")
        value = w.value
        with self._held_sync():     # setting options resets the value to the first one: put it back, unseen
            w.options = options
            w.value = value
        self._pending = False

    def _on_change(self, **_values: Any) -> None:
        if self._held:
            self._pending = True
            return
        self._redraw(force=False)

    def _follow(self, follow: Callable[[Any], None], new: Any) -> None:
        with self._held_sync():
            follow(new)
        self._pending = False  # the changed control's own observer (registered after this one) redraws

    @contextlib.contextmanager
    def _held_sync(self) -> Iterator[None]:
        self._held += 1
        try:
            with contextlib.ExitStack() as stack:
                for w in self.controls.values():
                    stack.enter_context(w.hold_sync())
                yield
        finally:
            self._held -= 1

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls inside ``with ui.hold():``; one redraw follows (if anything changed)."""
        self._pending = False
        with self._held_sync():
            yield
        if not self._held and self._pending:
            self._pending = False
            with self.progress:
                self._redraw(force=False)

    def forget(self) -> None:
        """Drop the cached frames (e.g. after the store changed outside this explorer); Run does it itself."""
        self._frames.clear()

    def _key(self, vals: Mapping[str, Any]) -> tuple | None:
        def frozen(v: Any) -> Any:
            if isinstance(v, (list, tuple)):
                return tuple(frozen(x) for x in v)
            hash(v)
            return v
        try:
            return tuple((k, frozen(v)) for k, v in vals.items())
        except TypeError:       # an unhashable value: this state is not cached
            return None

    def run(self) -> None:
        """What the Run button does: compute and draw the current setting (progress in ``progress``)."""
        self.forget()           # Run computes something new: every cached frame may be out of date
        start = time.perf_counter()
        with self.progress:
            self._redraw(force=True)
        self.timing["last_run_s"] = time.perf_counter() - start
        self.progress.clear_output()  # progress bars are finished (some closed): nothing of them should stay

    def _redraw(self, force: bool) -> None:
        vals = self.values()
        try:
            start = time.perf_counter()
            key = self._key(vals) if self._cache_size else None
            cached = self._frames.get(key) if key is not None and not force else None
            # a state drawn before needs no Run (the store only gains results): the cache is asked first
            if cached is None and self._needs_run is not None and not force and self._needs_run(**vals):
                text = (self._describe_run(**vals) if self._describe_run
                        else f"Not computed yet: click {self._run_label}.")
                self.out.outputs = render_outputs(text)
                if self.button is not None:
                    self.button.disabled = False
                return
            if cached is not None:          # this state was drawn before: the same frame, at once
                self._frames.move_to_end(key)
                rendered = cached
            else:
                result = self._draw(**vals)
                rendered = render_outputs(result, dpi=self._dpi, min_width_px=self._min_width)
                if key is not None and not force:   # a Run's frame tells of that Run ("trained 5 runs"): not kept
                    self._frames[key] = rendered
                    while len(self._frames) > self._cache_size:
                        self._frames.popitem(last=False)
            ms = (time.perf_counter() - start) * 1e3
            self.timing["last_redraw_ms"] = ms
            self.timing["cached"] = cached is not None
            if self._show_time:
                rendered += render_outputs(f"redrawn in {ms:.0f} ms (computation + rendering)")
            self.out.outputs = rendered
            if self.button is not None:
                self.button.disabled = True
        except Exception as exc:  # noqa: BLE001 - shown to the user in one line, never swallowed silently
            self.out.outputs = (error_output(exc),)
            if self.button is not None:   # Run would repeat the same error: it waits for a changed input
                self.button.disabled = True
        finally:
            self.redraws += 1

    def close(self) -> None:
        """Close the explorer and every widget it holds (controls, outputs, button)."""
        parts = [*getattr(self, "controls", {}).values(), getattr(self, "progress", None), getattr(self, "out", None),
                 getattr(self, "button", None)]
        for w in parts:
            if w is not None:
                w.close()
        for row in self.children:
            if isinstance(row, W.HBox):
                row.close()
        super().close()


def interactive_figure(draw: Callable[..., Any], controls: Mapping[str, W.ValueWidget], **options: Any
                       ) -> tuple[Explorer, W.Output]:
    """Wire ``draw(**values)`` to ``controls``; return ``(ui, out)`` (display ``ui``; ``out`` holds the figure).

    ``draw`` returns what to show (see :func:`render_outputs`). Options (see :class:`Explorer`): ``continuous``
    sets every slider's ``continuous_update`` (redraw while dragging; only for draws well under 100 ms);
    ``needs_run``/``describe_run``/``run_label``: a change whose ``needs_run(**values)`` is True shows
    ``describe_run(**values)`` and waits for the Run button; ``dependents``: control name -> function of its
    new value that sets other controls, all followed by one redraw; ``dpi``, ``min_width_px`` (figures render
    at least this wide), ``columns`` (controls per row), ``show_time`` (a line with the redraw's time).
    """
    ui = Explorer(draw, controls, **options)
    return ui, ui.out
