"""The explorer's frame cache (issue 19): a state drawn before is shown again without drawing, and only then."""
from __future__ import annotations

import ipywidgets as W
import pytest

from samlab.widgets.core import interactive_figure


def _explorer(cache=64, needs_run=None):
    calls = []

    def draw(x, label):
        calls.append((x, label))
        return f"x = {x}, {label}"

    controls = {"x": W.IntSlider(value=0, min=0, max=10), "label": W.Dropdown(options=["a", "b"], value="a")}
    ui, out = interactive_figure(draw, controls, cache=cache, needs_run=needs_run)
    return ui, out, calls


def _text(out):
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in out.outputs)


def test_a_revisited_state_is_shown_without_drawing_and_is_the_same_frame():
    ui, out, calls = _explorer()
    ui.controls["x"].value = 3
    first = out.outputs
    ui.controls["x"].value = 4
    assert len(calls) == 3 and "x = 4" in _text(out)    # the first draw at construction, then two
    ui.controls["x"].value = 3                     # back: no draw, the same frame
    assert len(calls) == 3 and out.outputs == first and ui.timing["cached"] is True
    ui.controls["label"].value = "b"               # a new state: drawn
    assert len(calls) == 4 and "x = 3, b" in _text(out) and ui.timing["cached"] is False


def test_cache_zero_draws_every_time_and_bad_sizes_are_refused():
    ui, out, calls = _explorer(cache=0)
    ui.controls["x"].value = 1
    ui.controls["x"].value = 0
    assert len(calls) == 3                          # the first draw at construction, then two
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="cache"):
            _explorer(cache=bad)


def test_the_oldest_frame_is_dropped_first():
    ui, out, calls = _explorer(cache=2)             # holds (x=0), then (1), then (2) drops (0)
    ui.controls["x"].value = 1
    ui.controls["x"].value = 2
    n = len(calls)
    ui.controls["x"].value = 1                      # still held
    assert len(calls) == n
    ui.controls["x"].value = 0                      # dropped: drawn again
    assert len(calls) == n + 1


def test_run_forgets_and_its_own_frame_is_not_kept():
    pending = {"x": True}
    ui, out, calls = _explorer(needs_run=lambda x, label: pending["x"] and x == 5)
    ui.controls["x"].value = 5
    assert "click Run" in _text(out) and len(calls) == 1
    pending["x"] = False
    ui.run()                                        # the Run draws (forced) and empties the cache
    assert len(calls) == 2 and not ui._frames
    ui.controls["x"].value = 0
    ui.controls["x"].value = 5                      # drawn again, not the Run's frame
    assert len(calls) == 4 and "x = 5" in _text(out)
    ui.forget()
    assert not ui._frames
