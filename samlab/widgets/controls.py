"""The shared controls: every notebook builds its rho, p, c, range and choice controls with these constructors,
so the same knob looks and behaves the same everywhere.

Sliders default to ``continuous_update=False`` (one redraw when released); an explorer whose redraw is well
under 100 ms (notebook 02) turns it on. Readouts show as many decimals as the step needs.

rho and c sliders start at 0. The browser's slider (noUiSlider) snaps a value to ``min + k * step`` in its own
floating point and, with ``continuous_update``, sends the snapped value back as soon as it is displayed: from
0.01 in steps of 0.005 it turns c = 0.1 into 0.09999999999999999; from 0 every step is exact (see
:func:`browser_snap`). A c of 0 is then reachable and draws a one-line "Cannot draw" message.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import ipywidgets as W
import traitlets

from ..checks import check_number
from ..methods import DEFAULT_RHO, format_p

__all__ = ["P_CHOICES", "rho_slider", "p_selector", "c_slider", "range_slider", "choice_selector",
           "readout_format", "dropdown_width", "browser_snap", "CheckboxGroup", "checkbox_group"]

#: The p values offered by :func:`p_selector`: 1 to 8 and infinity.
P_CHOICES: tuple[tuple[str, float], ...] = tuple((str(i), float(i)) for i in range(1, 9)) + (("∞", math.inf),)

_STYLE = {"description_width": "initial"}
_SLIDER_LAYOUT = {"width": "340px"}


def browser_snap(value: float, lo: float, hi: float, step: float) -> float:
    """The value a browser's FloatSlider (noUiSlider 15, one range) shows and sends back for ``value``."""
    pct = 100 * (value - lo) / (hi - lo) if lo >= 0 else 100 * (value + abs(lo)) / (hi - lo)
    n = 100 * step / (hi - lo)
    snapped = math.floor(pct / n + 0.5) * n          # JavaScript's Math.round
    return hi if snapped >= 100 else snapped * (100 / 100) * (hi - lo) / 100 + lo


def readout_format(step: float) -> str:
    """A fixed-point readout with the decimals ``step`` needs (0.005 -> '.3f', 0.05 -> '.2f', 1 -> '.0f')."""
    step = check_number("step", step, low=0.0, low_open=True)
    decimals = 0
    while decimals < 6 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-9:
        decimals += 1
    return f".{decimals}f"


def dropdown_width(labels: Sequence[str], description: str = "") -> str:
    """A CSS width that shows the longest label and the description uncut (in ``ch``, plus the arrow)."""
    longest = max((len(str(x)) for x in labels), default=4)
    return f"{longest + len(description) + 8}ch"


def rho_slider(method: str = "sam", *, value: float | None = None, max: float | None = None,
               step: float | None = None, description: str | None = None) -> W.FloatSlider:
    """Neighbourhood radius rho; default value, range and step follow the method's paper default."""
    default = DEFAULT_RHO.get(method, 0.05)
    value = default if value is None else check_number("rho", value, low=0.0)
    hi = max if max is not None else (0.5 if default <= 0.1 else 2.0)
    hi = float(hi) if hi >= value else value
    st = step if step is not None else (0.005 if hi <= 0.5 else 0.05)
    return W.FloatSlider(value=value, min=0.0, max=hi, step=st, description=description or "ρ",
                         readout_format=readout_format(st), continuous_update=False, style=_STYLE,
                         layout=_SLIDER_LAYOUT)


def p_selector(value: float = 2.0, *, description: str = "p") -> W.Dropdown:
    """SAMSON's norm order p: 1 to 8 or infinity (eq. 6)."""
    value = check_number("p", value, low=1.0, allow_inf=True)
    if value not in [v for _, v in P_CHOICES]:
        raise ValueError(f"p={value!r} is not offered; choose one of 1..8 or inf")
    return W.Dropdown(options=list(P_CHOICES), value=value, description=description, style=_STYLE,
                      layout={"width": "160px"})


def c_slider(value: float = 0.1, *, min: float = 0.0, max: float = 0.5, step: float = 0.01,
             description: str = "c") -> W.FloatSlider:
    """Weight range c (weights restricted to [-c, c]; SAMSON Fig. 1 and Algorithm 1)."""
    value = check_number("c", value, low=0.0, low_open=True)
    return W.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         readout_format=readout_format(step), continuous_update=False, style=_STYLE,
                         layout=_SLIDER_LAYOUT)


def range_slider(value: tuple[float, float] = (0.5, 1.5), *, min: float = 0.1, max: float = 3.0,
                 step: float = 0.05, description: str = "range") -> W.FloatRangeSlider:
    """A [low, high] interval (e.g. the range of the positive scaling factors tau)."""
    return W.FloatRangeSlider(value=value, min=min, max=max, step=step, description=description,
                              readout_format=readout_format(step), continuous_update=False, style=_STYLE,
                              layout=_SLIDER_LAYOUT)


def choice_selector(options: Sequence[Any], value: Any = None, *, description: str = "") -> W.Dropdown:
    """A dropdown over ``options`` (values or ``(label, value)`` pairs), wide enough for its longest label."""
    opts = list(options)
    if not opts:
        raise ValueError(f"options for {description or 'the dropdown'} is empty")
    values = [o[1] if isinstance(o, tuple) else o for o in opts]
    labels = [o[0] if isinstance(o, tuple) else (format_p(o) if isinstance(o, float) else str(o)) for o in opts]
    value = values[0] if value is None else value
    if value not in values:
        raise ValueError(f"{description or 'value'}={value!r} is not one of {values}")
    return W.Dropdown(options=opts, value=value, description=description, style=_STYLE,
                      layout={"width": dropdown_width(labels, description)})


class CheckboxGroup(W.HBox):
    """Several options, each its own checkbox (no ctrl-click, unlike a multi-select); ``value`` is the tuple of
    the checked options in the options' order, observable like any control's (``observe(..., "value")``).

    Setting ``value`` ticks exactly those boxes and notifies once; ticking a box in the browser changes ``value``
    once. An option not offered raises ``ValueError`` and leaves every box as it was.
    """

    value = traitlets.Tuple()

    def __init__(self, options: Sequence[str], value: Sequence[str] | None = None, *, description: str = "") -> None:
        self.options = tuple(str(o) for o in options)
        if not self.options:
            raise ValueError(f"options for {description or 'the checkbox group'} is empty")
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"options must be distinct, got {list(self.options)}")
        self.description = description
        self.boxes = {o: W.Checkbox(value=False, description=o, indent=False, layout={"width": "auto"},
                                    style={"description_width": "initial"}) for o in self.options}
        self._syncing = False
        for box in self.boxes.values():
            box.observe(self._box_changed, names="value")
        label = [W.Label(description, layout={"margin": "0 0.6em 0 0"})] if description else []
        super().__init__([*label, *self.boxes.values()], layout={"flex_flow": "row wrap", "align_items": "center"})
        self.value = tuple(self.options if value is None else value)

    @traitlets.validate("value")
    def _valid(self, proposal: Any) -> tuple[str, ...]:
        chosen = tuple(proposal["value"])
        unknown = [v for v in chosen if v not in self.options]
        if unknown:
            raise ValueError(f"{self.description or 'value'}: {unknown} not among the options {list(self.options)}")
        return tuple(o for o in self.options if o in chosen)

    @traitlets.observe("value")
    def _value_changed(self, change: Any) -> None:
        self._syncing = True
        try:
            for o, box in self.boxes.items():
                box.value = o in change["new"]
        finally:
            self._syncing = False

    def _box_changed(self, _change: Any) -> None:
        if not self._syncing:
            self.value = tuple(o for o, box in self.boxes.items() if box.value)

    def close(self) -> None:
        for box in getattr(self, "boxes", {}).values():     # (a refused construction has none)
            box.close()
        super().close()


def checkbox_group(options: Sequence[str], value: Sequence[str] | None = None, *,
                   description: str = "") -> CheckboxGroup:
    """A :class:`CheckboxGroup` over ``options`` (all checked unless ``value`` says which)."""
    return CheckboxGroup(options, value, description=description)
