"""samlab.plots: figure saving, the blitted redraw of notebook 02, and what each figure shows (legends, ticks, sizes)."""
from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import samlab as sl
from samlab import plots
from samlab.experiments import perturbation_profiles as pp


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(png)).size


# --------------------------------------------------------------------------------------------------- core

def test_save_figure_writes_png_and_pdf_into_figures_dir():
    fig, axes = plots.new_figure(1, 2)
    axes[0, 0].plot([0, 1], [1, 0])
    paths = plots.save_figure(fig, "unit_test_figure")
    root = Path(os.environ["SAMLAB_FIGURES"])
    assert paths == [root / "unit_test_figure.png", root / "unit_test_figure.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_saving_twice_gives_the_same_pdf():
    fig, axes = plots.new_figure()
    axes[0, 0].plot([0, 1], [1, 0])
    first = plots.save_figure(fig, "twice", formats=("pdf",))[0].read_bytes()
    assert plots.save_figure(fig, "twice", formats=("pdf",))[0].read_bytes() == first   # no creation date


def test_figures_show_themselves_in_a_notebook_without_pyplot():
    fig, _ = plots.new_figure()
    assert isinstance(fig, plots.SamlabFigure) and fig._repr_png_()[:4] == b"\x89PNG"
    from IPython.core.formatters import PNGFormatter

    assert PNGFormatter()(fig)[:4] == b"\x89PNG"   # what IPython calls for a cell ending with `fig`


@pytest.mark.parametrize("name", ["", "a/b", "fig.png", "../up", None])
def test_save_figure_refuses_bad_names(name):
    with pytest.raises(ValueError, match="name="):
        plots.save_figure(plots.new_figure()[0], name)


def test_labels_and_colours_come_from_methods_only():
    for name in ("METHOD_COLORS", "method_key", "method_label", "method_color", "format_p"):
        assert not hasattr(plots, name), f"sl.plots.{name}: take it from samlab.methods"
    assert sl.methods.method_label("samson", 2.0) == "SAMSON$_{2}$"
    assert sl.methods.method_label("samson", math.inf, plain=True) == "SAMSON∞"
    assert sl.methods.method_color("samson", math.inf) == sl.methods.METHOD_COLORS["samson_inf"]


def test_every_public_name_is_reexported():
    for name in ("SamlabFigure", "new_figure", "save_figure", "figure_png", "enable_blitting", "nice_ceiling",
                 "plot_scale_invariance", "plot_perturbation_profiles", "plot_variance_gallery",
                 "plot_generalization_curves", "plot_learning_curves", "plot_esam_study", "plot_throughput"):
        assert callable(getattr(sl.plots, name)) and name in sl.plots.__all__


def test_computation_never_imports_plotting():
    code = ("import sys, samlab.experiments as e\n"
            "for m in e.__all__: __import__(f'samlab.experiments.{m}')\n"
            "bad = [m for m in sys.modules if m.startswith(('samlab.plots', 'samlab.widgets', 'matplotlib'))]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(sl.__file__).parents[1])})
    assert run.returncode == 0, run.stdout + run.stderr


def test_nice_ceiling():
    assert [plots.nice_ceiling(x) for x in (0.41, 0.5, 0.051, 7.0, 1.0)] == pytest.approx([0.5, 0.5, 0.06, 8.0, 1.0])
    with pytest.raises(ValueError):
        plots.nice_ceiling(0.0)


# ----------------------------------------------------------------------------------------------- blitting

def test_blitting_composites_straight_alpha_over_white():
    """A black square at alpha 128 over the white figure: 255 (1 - 128/255) = 127 (hand-computed)."""
    from matplotlib.patches import Rectangle

    fig = plots.SamlabFigure(figsize=(1, 1))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.add_patch(Rectangle((0.25, 0.25), 0.5, 0.5, color="black", alpha=128 / 255, lw=0, antialiased=False))
    moving, = ax.plot([], [])
    plots.enable_blitting(fig, [moving], lambda a: ((), ()))
    px = _pixels(plots.figure_png(fig, dpi=40))
    assert px.shape == (40, 40, 3)
    assert np.abs(px[20, 20] - 127).max() <= 1 and (px[2, 2] == 255).all()
    assert np.array_equal(_pixels(plots.figure_png(fig, dpi=40)), px)      # from the cache: the same image


def test_blitting_needs_fixed_panels():
    fig, axes = plots.new_figure()
    with pytest.raises(ValueError, match="layout engine"):
        plots.enable_blitting(fig, axes[0, 0].lines, lambda a: ((), ()))


def test_blitted_redraw_matches_a_full_render():
    profiles = pp.perturbation_profiles(rho=0.5, c=0.13)
    fig = plots.plot_perturbation_profiles(profiles, highlight=0.13)
    plots.figure_png(fig, dpi=60)                                   # full draw, background cached
    profiles = pp.perturbation_profiles(rho=0.5, c=0.14)
    same = plots.plot_perturbation_profiles(profiles, highlight=0.14, fig=fig)
    assert same is fig                                              # updated in place
    assert len(fig._samlab_blit["artists"]) == 4                    # a c step moves the 4 slider lines only
    blitted = _pixels(plots.figure_png(same, dpi=60))
    fresh = _pixels(plots.figure_png(plots.plot_perturbation_profiles(profiles, highlight=0.14), dpi=60))
    assert blitted.shape == fresh.shape
    assert (np.abs(blitted - fresh).max(axis=2) > 60).mean() < 0.01  # only antialiasing at line/spine crossings


def test_a_new_p_draws_one_panel_and_matches_a_full_render():
    fig = plots.plot_perturbation_profiles(pp.perturbation_profiles(rho=0.5, p=2.0, c=0.13), highlight=0.13)
    plots.figure_png(fig, dpi=60)
    fig = plots.plot_perturbation_profiles(pp.perturbation_profiles(rho=0.5, p=2.0, c=0.14), highlight=0.14, fig=fig)
    plots.figure_png(fig, dpi=60)                                   # a c step: the fixed lines become layers
    layers = fig._samlab_blit["layers"]
    before = set(layers)
    same = plots.plot_perturbation_profiles(pp.perturbation_profiles(rho=0.5, p=3.0, c=0.13), highlight=0.13, fig=fig)
    composed = _pixels(plots.figure_png(same, dpi=60))
    new = set(layers) - before
    assert same is fig and [k[:2] for k in new] == [("top", 2)]     # only SAMSON_p's y axis and title drawn again
    buf = io.BytesIO()
    same.savefig(buf, format="png", dpi=60)                         # matplotlib's own full draw
    full = _pixels(buf.getvalue())
    assert composed.shape == full.shape
    assert (np.abs(composed - full).max(axis=2) > 2).mean() < 1e-3  # the same image up to rounding


# ------------------------------------------------------------------------------------------------ figures

def _tick_labels(axis) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    return [t.get_text() for t in axis.get_ticklabels()
            if t.get_text() and lo * (1 - 1e-9) <= t.get_position()[axis.axis_name == "y"] <= hi * (1 + 1e-9)]


def test_scale_invariance_sharpness_axis_has_readable_ticks():
    """Sharpness between 0.02 and 0.05 lies inside one decade: the log axis must still label several ticks."""
    k = 5
    logits = np.zeros((k, 2, 2))
    sharp = {"sam": np.linspace(0.03, 0.05, k), "asam": np.full(k, 0.02)}
    fig = plots.plot_scale_invariance(logits, sharp)
    _drawn(fig)
    ax = fig.axes[1]
    assert ax.get_yscale() == "log"
    assert len(_tick_labels(ax.yaxis)) >= 2
    with pytest.raises(ValueError, match="logits"):
        plots.plot_scale_invariance(np.zeros((3, 2)), {})


def test_generalization_and_gallery_figures():
    curves = {1.0: {"adam": np.array([[0.0, 0.1], [0.0, 0.12]]), "sam": np.array([[0.0, 0.09], [0.01, 0.1]])},
              5.0: {"adam": np.array([[0.0, 0.2]]), "sam": np.array([[0.0, 0.2]])}}
    fig = plots.plot_generalization_curves([1.0, 30.0], curves, reference=[0.0, 0.066], title="quick scale")
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 2
    assert "quick scale" in fig.get_suptitle()
    with pytest.raises(ValueError, match="band"):
        plots.plot_generalization_curves([1.0, 30.0], curves, band="iqr")
    x, y = np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 2
    fig = plots.plot_variance_gallery([(5.0, x, y), (10.0, x, y), (80.0, x, y), (1.0, x, y)], ncols=3)
    assert len([a for a in fig.axes if a.get_visible()]) == 4


def _drawn(fig):
    """The Agg renderer after a full draw (constrained layout placed everything)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _legend_outside_panels(fig) -> bool:
    renderer = _drawn(fig)
    legend = fig.legends[0].get_window_extent(renderer)
    return all(not legend.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes if ax.get_visible())


def test_explorer_sized_figures_are_wide_enough_and_legends_sit_outside():
    """The notebook 03 explorer shows one training variance, notebook 04's two runs: both >= 480 px at 80 dpi."""
    errs = np.array([[0.0, 0.1, 0.2], [0.0, 0.12, 0.22]])
    curves = {15.0: {m: errs + i / 100 for i, m in enumerate(("adam", "sam", "asam", "samson_2", "samson_inf"))}}
    fig = plots.plot_generalization_curves([1.0, 15.0, 30.0], curves, reference=[0.0, 0.05, 0.1])
    assert _size(plots.figure_png(fig, dpi=80))[0] >= 480 and _legend_outside_panels(fig)
    run = {"epoch": [1, 2, 3], "train_acc": [0.5, 0.7, 0.9], "test_acc": [0.4, 0.6, 0.7]}
    fig = plots.plot_learning_curves([{**run, "label": "SAM", "key": "sam"}, {**run, "label": "SGD", "key": "base"}],
                                     ncols=2, title="a long title: small_cnn on the offline digits fallback, NOT cifar10")
    assert _size(plots.figure_png(fig, dpi=80))[0] >= 480 and _legend_outside_panels(fig)
    renderer = _drawn(fig)
    box = fig._suptitle.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width                  # the title is not cut off


def test_a_long_legend_takes_columns_and_fits_the_figure():
    """Notebook 05's PCM figure has 15 settings with labels like SAMSON$_\\infty$ + noise (±2·std): one column
    squeezed the panel to a strip and cut its y label off; the legend now spreads over columns within the width."""
    methods = ["SGD", "SAM", "ASAM", "SAMSON$_{2}$", "SAMSON$_{\\infty}$"]      # as methods.method_label writes them
    series = [{"label": f"{m}{v}", "key": "sgd", "training": "plain", "times": [1.0, 10.0, 1e3],
               "mean": [0.9, 0.8, 0.7], "std": [0.01, 0.01, 0.01], "digital": 0.95}
              for m in methods for v in ("", " + clip 0.1", " + noise (±2·std)")]
    fig = plots.plot_pcm_curves(series, title="a title\nits second line")
    legend = fig.legends[0]
    assert legend._ncols >= 2
    renderer = _drawn(fig)
    box = legend.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and _legend_outside_panels(fig)
    assert fig.axes[0].get_window_extent(renderer).height >= 0.3 * fig.bbox.height   # the panel is not a strip
    label = fig.axes[0].yaxis.label.get_window_extent(renderer)
    assert label.y0 >= 0 and label.y1 <= fig.bbox.height                              # nor its label cut off
    assert fig._suptitle.get_text() == "a title\nits second line"


def test_esam_study_names_both_curves_and_labels_units():
    study = {"SWP": {"x": [1.0, 0.6, 0.3], "acc": [0.9, 0.89, 0.85], "images_per_s": [100, 120, 140],
                     "xlabel": "β (SWP: fraction of tensors perturbed)"},
             "SDS": {"x": [1.0, 0.5], "acc": [0.9, 0.88], "images_per_s": [100, 130],
                     "xlabel": "γ (SDS: fraction of samples kept)"}}
    refs = [{"label": "SAM", "key": "sam", "acc": 0.9, "images_per_s": 100}]
    fig = plots.plot_esam_study(study, references=refs, title="t")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["ESAM-SWP", "SAM", "ESAM-SDS"] or sorted(legend) == ["ESAM-SDS", "ESAM-SWP", "SAM"]
    assert fig.axes[0].get_ylabel() == "test accuracy (%)" and "images/s" in fig.axes[2].get_ylabel()
    assert _legend_outside_panels(fig)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_esam_study({})


def _legends_cover_nothing(fig) -> bool:
    """No legend (figure or axes) overlaps any panel's data area, nor any plotted point (display coordinates)."""
    renderer = _drawn(fig)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    assert legends, "the figure has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if box.overlaps(ax.get_window_extent(renderer)):
                return False
            for line in ax.lines:
                points = ax.transData.transform(np.asarray(line.get_xydata(), dtype=float))
                if any(box.contains(px, py) for px, py in points):
                    return False
    return True


def test_mnist1d_legends_sit_outside_and_cover_no_point():
    """figures/04b_mnist1d_methods.png: the "paper, Adam" legend box (loc="center right") sat on the CNN panel's
    SAMSON_2 point. Points are put at the old legend spot (right half, mid height) in both panels."""
    from samlab.papers import PaperResult

    def entry(model, method, rho, test, train):
        return {"model": model, "method": method, "rho": rho, "test_acc": test, "test_acc_ci": 1.5,
                "train_acc": train, "n": 5, "gap": train - test, "gap_ci": 1.0}

    methods = [("SGD", 0.0), ("Adam", 0.0), ("SAM", 0.05), ("ASAM", 0.2), ("SAMSON_2", 0.5), ("SAMSON_inf", 0.2)]
    selected = [entry(model, m, rho, 91.0 if i >= 3 else 85.0 + i, 96.0 + i / 2)
                for model in ("mnist1d_cnn", "mnist1d_mlp") for i, (m, rho) in enumerate(methods)]
    refs = [PaperResult("paper", "mnist1d_cnn", "mnist1d", "Adam", 94.0),
            PaperResult("paper", "mnist1d_mlp", "mnist1d", "Adam", 68.0)]
    fig = plots.plot_method_comparison(selected, references=refs)
    assert _legends_cover_nothing(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["paper, Adam: 94% (mnist1d_cnn)", "paper, Adam: 68% (mnist1d_mlp)"]
    # the rho sweep: its legend (loc="best") had to find a free spot; now it sits below the panels as well
    sweep = [entry("mnist1d_cnn", "SGD", 0.0, 90.0, 95.0), entry("mnist1d_cnn", "Adam", 0.0, 85.0, 95.0)]
    sweep += [entry("mnist1d_cnn", m, r, 42.0 if (m, r) == ("SAMSON_inf", 0.5) else 90.0, 95.0)
              for m, _ in methods[2:] for r in (0.05, 0.2, 0.5)]
    assert _legends_cover_nothing(plots.plot_rho_sweep(sweep, "mnist1d_cnn"))
