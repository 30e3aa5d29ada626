"""samlab.plots and samlab.widgets: figure saving, the blitted redraw, and the notebooks' widget callbacks, headless.

The callback tests build the controls with the same functions the notebooks call, set a control's
``.value`` and check that the Output's ``outputs`` changed (or show a clear message for bad input).
"""
from __future__ import annotations

import base64
import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from samlab import plots, widgets
from samlab.experiments import perturbation_profiles as pp
from samlab.experiments import variance_generalization as variance_study
from samlab.runs import RunStore


def _texts(out) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in out.outputs)


def _pngs(out) -> list[bytes]:
    return [base64.b64decode(o["data"]["image/png"]) for o in out.outputs
            if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]


def _controls(ui) -> dict:
    return {w.description: w for row in ui.children if hasattr(row, "children") for w in row.children
            if hasattr(w, "value")}


# ------------------------------------------------------------------------------------ the generic helper

def test_shared_controls():
    assert widgets.rho_slider("sam").value == 0.05 and widgets.rho_slider("asam").value == 0.5
    p = widgets.p_selector()
    assert p.value == 2.0 and [v for _, v in p.options] == [1, 2, 3, 4, 5, 6, 7, 8, math.inf]
    assert widgets.c_slider().value == 0.1
    with pytest.raises(ValueError, match="rho"):
        widgets.rho_slider(value=-0.1)
    with pytest.raises(ValueError, match="c="):
        widgets.c_slider(0.0)
    with pytest.raises(ValueError, match="p="):
        widgets.p_selector(0.5)


def test_interactive_figure_redraws_and_shows_errors_as_messages():
    calls = []

    def draw(rho, c):
        calls.append((rho, c))
        if c > 0.3:
            raise ValueError(f"c={c} is too large for this demo")
        if c > 0.25:
            raise RuntimeError("a bug")
        fig, ax = plots.new_figure()
        ax[0, 0].plot([0, 1], [0, rho])
        return [fig, f"rho={rho}"]

    rho, c = widgets.rho_slider("sam"), widgets.c_slider()
    ui, out = widgets.interactive_figure(draw, {"rho": rho, "c": c}, show_time=True)
    assert rho.continuous_update is False
    first = out.outputs
    assert len(_pngs(out)) == 1 and "rho=0.05" in _texts(out) and "redrawn in" in _texts(out)
    rho.value = 0.1
    assert out.outputs != first and "rho=0.1" in _texts(out) and ui.timing["last_redraw_ms"] > 0
    c.value = 0.4
    assert _texts(out).startswith("Cannot draw: c=0.4 is too large") and "Traceback" not in _texts(out)
    c.value = 0.28
    assert "RuntimeError: a bug" in _texts(out)
    assert len(calls) == 4


def test_interactive_figure_with_a_run_button():
    computed = set()

    def draw(x):
        computed.add(x)
        return f"drawn {x}"

    x = widgets.c_slider(0.1)
    ui, out = widgets.interactive_figure(draw, {"x": x}, needs_run=lambda x: x not in computed,
                                         describe_run=lambda x: f"click Run for {x}")
    assert _texts(out) == "click Run for 0.1\n" and not ui.button.disabled
    ui.button.click()
    assert _texts(out) == "drawn 0.1\n" and ui.button.disabled
    x.value = 0.2
    assert "click Run for 0.2" in _texts(out)
    x.value = 0.1
    assert _texts(out) == "drawn 0.1\n"    # cached: drawn at once, no click


# ------------------------------------------------------------------------------------ notebook builders

def test_notebook01_explorer_callbacks():
    ui, out = widgets.scale_invariance_explorer(k=8)
    ctl = _controls(ui)
    text = _texts(out)
    assert len(_pngs(out)) == 1 and "ASAM" in text and "spread" in text
    before = out.outputs
    ctl["τ range"].value = (0.2, 2.0)
    assert out.outputs != before and len(_pngs(out)) == 1
    ctl["biases"].value = "biases scaled"
    asam = [ln for ln in _texts(out).splitlines() if ln.strip().startswith("ASAM")][0]
    assert float(asam.split()[1]) > 1e-3             # weights-only ASAM is no longer constant (in %)
    ctl["T applies to"].value = "all"
    asam = [ln for ln in _texts(out).splitlines() if ln.strip().startswith("ASAM")][0]
    assert float(asam.split()[1]) < 1e-6
    ctl["p"].value = math.inf
    assert "SAMSON₂" not in _texts(out) and "SAMSON∞" in _texts(out)
    ctl["ρ"].value = 0.0
    assert _texts(out).startswith("Cannot draw: rho=0.0 is out of range")


def test_notebook02_explorer_callbacks_and_redraw_time():
    ui, out = widgets.perturbation_explorer()
    ctl = _controls(ui)
    first = _pngs(out)
    assert len(first) == 1 and "redrawn in" in _texts(out)
    times = []
    for c in (0.11, 0.12, 0.13):
        ctl["c"].value = c
        times.append(ui.timing["last_redraw_ms"])
    assert _pngs(out) != first
    ctl["p"].value = 4.0
    ctl["ρ"].value = 1.0
    assert len(_pngs(out)) == 1
    assert min(times) < 1000, f"a c-slider redraw took {min(times):.0f} ms"   # loose: the CI box is shared
    with pytest.raises(ValueError, match="c="):
        widgets.perturbation_explorer(c=0.0)


def test_notebook03_explorer_runs_on_click_and_recalls_from_cache(tmp_path):
    study = variance_study.VarianceStudy("smoke", store=RunStore(tmp_path / "runs"), seeds=(0,), epochs=1,
                                         n_train=100, n_test=100, test_variances=(1.0, 30.0))
    ui, out = widgets.variance_explorer(study, train_variance=1.0)
    ctl = _controls(ui)
    assert "not computed yet" in _texts(out) and not _pngs(out)
    ui.button.click()
    assert len(_pngs(out)) == 1 and "best (mean over seeds)" in _texts(out)
    ctl["training σ²"].value = 5.0
    assert "not computed yet" in _texts(out)
    ctl["training σ²"].value = 1.0
    assert len(_pngs(out)) == 1                     # back to a cached setting: drawn without a click
    ctl["p"].value = math.inf                        # SAMSON_inf is cached, p = inf needs nothing new
    assert len(_pngs(out)) == 1
