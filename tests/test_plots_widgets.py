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


# ------------------------------------------------------------------------------------------------- plots

def test_save_figure_writes_png_and_pdf_into_figures_dir():
    fig, axes = plots.new_figure(1, 2)
    axes[0, 0].plot([0, 1], [1, 0])
    paths = plots.save_figure(fig, "unit_test_figure")
    root = Path(os.environ["SAMLAB_FIGURES"])
    assert paths == [root / "unit_test_figure.png", root / "unit_test_figure.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_figures_show_themselves_in_a_notebook_without_pyplot():
    fig, _ = plots.new_figure()
    assert isinstance(fig, plots.SamlabFigure) and fig._repr_png_()[:4] == b"\x89PNG"
    from IPython.core.formatters import PNGFormatter

    assert PNGFormatter()(fig)[:4] == b"\x89PNG"   # what IPython calls for a cell ending with `fig`


@pytest.mark.parametrize("name", ["", "a/b", "fig.png", "../up", None])
def test_save_figure_refuses_bad_names(name):
    with pytest.raises(ValueError, match="name="):
        plots.save_figure(plots.new_figure()[0], name)


def test_method_labels_and_colours():
    assert plots.method_label("samson", 2.0) == "SAMSON$_{2}$"
    assert plots.method_label("samson", math.inf, plain=True) == "SAMSON∞"
    assert plots.method_label("samson", 3.0, plain=True) == "SAMSON₃"
    assert plots.method_label("adam") == "Adam" and plots.method_label("asam") == "ASAM"
    assert plots.method_color("samson", math.inf) == plots.METHOD_COLORS["samson_inf"]
    assert plots.method_color("samson", 4.0) == plots.METHOD_COLORS["samson"]


def test_nice_ceiling():
    assert [plots.nice_ceiling(x) for x in (0.41, 0.5, 0.051, 7.0, 1.0)] == pytest.approx([0.5, 0.5, 0.06, 8.0, 1.0])
    with pytest.raises(ValueError):
        plots.nice_ceiling(0.0)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_blitted_redraw_matches_a_full_render():
    profiles = pp.perturbation_profiles(rho=0.5, c=0.13)
    fig = plots.plot_perturbation_profiles(profiles, highlight=0.13)
    plots.figure_png(fig, dpi=60)                                   # full draw, background cached
    profiles = pp.perturbation_profiles(rho=0.5, c=0.14)
    same = plots.plot_perturbation_profiles(profiles, highlight=0.14, fig=fig)
    assert same is fig                                              # updated in place
    blitted = _pixels(plots.figure_png(same, dpi=60))
    fresh = _pixels(plots.figure_png(plots.plot_perturbation_profiles(profiles, highlight=0.14), dpi=60))
    assert blitted.shape == fresh.shape
    assert (np.abs(blitted - fresh).max(axis=2) > 60).mean() < 0.01  # only antialiasing at line/spine crossings


def test_a_new_p_draws_one_panel_and_matches_a_full_render():
    fig = plots.plot_perturbation_profiles(pp.perturbation_profiles(rho=0.5, p=2.0, c=0.13), highlight=0.13)
    plots.figure_png(fig, dpi=60)
    layers = fig._samlab_blit["layers"]
    before = set(layers)
    same = plots.plot_perturbation_profiles(pp.perturbation_profiles(rho=0.5, p=3.0, c=0.13), highlight=0.13, fig=fig)
    composed = _pixels(plots.figure_png(same, dpi=60))
    assert same is fig and len(set(layers) - before) == 1          # only SAMSON_p's y axis and title drawn again
    buf = io.BytesIO()
    same.savefig(buf, format="png", dpi=60)                         # matplotlib's own full draw
    full = _pixels(buf.getvalue())
    assert composed.shape == full.shape
    assert (np.abs(composed - full).max(axis=2) > 2).mean() < 1e-3  # the same image up to rounding


def test_generalization_and_gallery_figures():
    curves = {1.0: {"adam": np.array([[0.0, 0.1], [0.0, 0.12]]), "sam": np.array([[0.0, 0.09], [0.01, 0.1]])},
              5.0: {"adam": np.array([[0.0, 0.2]]), "sam": np.array([[0.0, 0.2]])}}
    fig = plots.plot_generalization_curves([1.0, 30.0], curves, reference=[0.0, 0.066])
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 2
    with pytest.raises(ValueError, match="band"):
        plots.plot_generalization_curves([1.0, 30.0], curves, band="iqr")
    x, y = np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 2
    fig = plots.plot_variance_gallery([(5.0, x, y), (10.0, x, y), (80.0, x, y), (1.0, x, y)], ncols=3)
    assert len([a for a in fig.axes if a.get_visible()]) == 4
    with pytest.raises(ValueError, match="logits"):
        plots.plot_scale_invariance(np.zeros((3, 2)), {})
