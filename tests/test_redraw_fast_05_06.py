"""Issue 19, notebooks 05 and 06: the reused, blitted explorer figures (RobustnessBoard, SharpnessBoard), the
checkbox group that replaces the multi-selects, shared panel layers, and the browser defects fixed with them.

Each figure test compares the blitted image with a full matplotlib render of the same figure state (the truth),
or checks what the picture must show (artists visible, limits kept) by hand-set data.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from samlab.plots import figure_png
from samlab.plots.blitting import enable_blitting
from samlab.plots.core import new_figure
from samlab.plots.robustness_board import RobustnessBoard
from samlab.plots.sharpness import SharpnessBoard
from samlab.widgets.controls import CheckboxGroup, checkbox_group
from samlab.widgets.core import figure_png_sized

SIGMAS = [0.0, 0.1, 0.2, 0.3, 0.4]


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _full_render(fig, dpi: int) -> np.ndarray:
    """The truth: matplotlib draws the whole figure, every artist, no cached layer."""
    state = fig._samlab_blit
    fig._samlab_blit = None
    try:
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return _pixels(buf.getvalue())
    finally:
        fig._samlab_blit = state


def _close(a: np.ndarray, b: np.ndarray, *, share: float = 0.01) -> bool:
    """The same picture: at most ``share`` of the pixels differ by more than 40 levels (antialiased edges of
    composited layers may differ by a little)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((np.abs(a - b).max(axis=2) > 40).mean()) <= share


def _series():
    """Two methods x two trainings: hand-made curves (accuracy falls with sigma_c)."""
    out = []
    for key, method, base in (("sgd", "SGD", 0.90), ("samson_inf", "SAMSON∞", 0.92)):
        for training, drop in (("plain", 0.5), ("noise", 0.2)):
            mean = [base - drop * s ** 2 * 4 for s in SIGMAS]
            out.append({"name": f"{method} {training}", "label": f"{method} {training}", "key": key,
                        "training": training, "method": method, "sigmas": SIGMAS, "mean": mean,
                        "std": [0.01] * len(SIGMAS), "clean": mean[0], "high": mean[-1], "high_std": 0.01})
    pcm = [{"name": s["name"], "label": s["label"], "key": s["key"], "training": s["training"],
            "times": [1.0, 3600.0, 31557600.0], "mean": [0.9, 0.89, 0.88], "std": [0.01] * 3, "digital": 0.9}
           for s in out]
    return out, pcm


# ------------------------------------------------------------------------------------------ checkbox group

def test_checkbox_group_value_follows_the_boxes_and_refuses_unknown_options():
    g = checkbox_group(["a", "b", "c"], description="methods")
    seen = []
    g.observe(lambda change: seen.append(change["new"]), names="value")
    assert g.value == ("a", "b", "c") and all(b.value for b in g.boxes.values())
    g.boxes["b"].value = False                          # a click in the browser: one change, options' order
    assert g.value == ("a", "c") and seen == [("a", "c")]
    g.value = ("c", "a")                                # set from the kernel: the boxes follow, order kept
    assert g.value == ("a", "c") and [b.value for b in g.boxes.values()] == [True, False, True]
    with pytest.raises(ValueError, match="not among the options"):
        g.value = ("z",)
    assert g.value == ("a", "c") and [b.value for b in g.boxes.values()] == [True, False, True]
    with pytest.raises(ValueError, match="empty"):
        CheckboxGroup([])
    with pytest.raises(ValueError, match="distinct"):
        CheckboxGroup(["a", "a"])
    g.close()


# ------------------------------------------------------------------------------------------- blitting

def test_a_reused_figure_is_never_resized_by_the_explorer_render():
    """Before the fix a blitted figure narrower than min_width_px grew at every render (06's explorer)."""
    fig, axes = new_figure(1, 1, panel_size=(3.0, 2.0))
    axes[0, 0].plot([0, 1], [0, 1])
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    enable_blitting(fig, [], lambda ax: ((ax.get_xlim(),), (ax.get_ylim(),)))
    sizes = []
    for _ in range(3):
        png = figure_png_sized(fig, dpi=80, min_width_px=400)
        sizes.append((tuple(fig.get_size_inches()), Image.open(io.BytesIO(png)).size))
    assert sizes[0] == sizes[1] == sizes[2] and sizes[0][1][0] >= 400


def test_shared_bottom_layers_draw_the_same_picture_as_one_layer_per_panel():
    def build(shared: bool):
        fig, axes = new_figure(1, 3, panel_size=(2.4, 2.0), sharey=True)
        for i, ax in enumerate(axes[0]):
            ax.plot(SIGMAS, [1 - i * s for s in SIGMAS])
            ax.set_xlabel("σc")
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
        return enable_blitting(fig, [], lambda ax: ((ax.get_xlim(), ax.get_xlabel()), (ax.get_ylim(),)),
                               shared_bottoms=shared)

    a, b = build(True), build(False)
    for fig in (a, b):
        for ax in fig.axes:
            ax.set_xlim(0.1, 0.3)
    shared, separate = _pixels(figure_png(a, dpi=80)), _pixels(figure_png(b, dpi=80))
    assert _close(shared, separate, share=0.01)    # a shared layer lands at whole pixels: edges may move
    assert _close(shared, _full_render(a, 80), share=0.01)
    assert sum(k[0] == "shared" for k in a._samlab_blit["layers"]) == 1    # one x axis drawn, for 3 panels


# --------------------------------------------------------------------------------------- notebook 05's board

def test_robustness_board_blitted_equals_a_full_render_after_every_kind_of_move():
    series, pcm = _series()
    board = RobustnessBoard(series, pcm, title="hand-made curves")
    names = board.names
    for shown, front, rng, t in ((names, {names[1]}, (0.0, 0.4), 31557600.0),
                                 (names, {names[1]}, (0.1, 0.3), 31557600.0),     # the sigma_c range
                                 (names[:2], {names[0]}, (0.1, 0.3), 31557600.0),  # the methods
                                 (names[:2], {names[0]}, (0.1, 0.3), 3600.0)):     # the read time
        fig = board.show(shown, front, rng, t)
        assert _close(_pixels(figure_png(fig, dpi=80)), _full_render(fig, 80))


def test_robustness_board_shows_only_the_chosen_runs_and_never_rescales():
    series, pcm = _series()
    board = RobustnessBoard(series, pcm)
    ylims = [ax.get_ylim() for ax in board.fig.axes]
    board.show([series[0]["name"]], {series[0]["name"]}, (0.1, 0.3), 3600.0)
    visible = {n for n, line in board._curves.items() if line.get_visible()}
    assert visible == {series[0]["name"]}
    assert board._points[series[0]["name"]].get_marker() == "*"               # on the frontier: starred
    assert [ax.get_ylim() for ax in board.fig.axes] == ylims                  # fewer runs: same y limits
    xlo, xhi = board.curve_axes["plain"].get_xlim()
    assert xlo < 0.1 < 0.3 < xhi and xhi - xlo < 0.25                           # the range chosen (+1 % pad)
    assert math.isclose(board._mark.get_xdata()[0], 3600.0)
    texts = [t.get_text() for t in board.fig.legends[0].get_texts()]
    assert texts[0] == "SGD" and "SAMSON∞" not in texts                        # the legend: shown methods only


def test_robustness_board_refuses_bad_input_and_changes_nothing():
    series, pcm = _series()
    board = RobustnessBoard(series, pcm)
    fig = board.show(board.names, set(), (0.0, 0.4), 3600.0)
    before = _pixels(figure_png(fig, dpi=80))
    for args, match in (((["nobody"], set(), (0.0, 0.4), 3600.0), "unknown runs"),
                        ((board.names, set(), (0.3, 0.3), 3600.0), "low < high"),
                        ((board.names, set(), (0.0, 0.4), 1e12), "outside the PCM")):
        with pytest.raises(ValueError, match=match):
            board.show(*args)
    assert np.array_equal(_pixels(figure_png(fig, dpi=80)), before)
    with pytest.raises(ValueError, match="empty"):
        RobustnessBoard([])
    with pytest.raises(ValueError, match="unique"):
        RobustnessBoard([series[0], series[0]])


# --------------------------------------------------------------------------------------- notebook 06's board

def _rows(n: int = 6, scale: float = 1.0):
    return [{"sharpness": scale * (1 + i), "gap": 5.0 + i, "gap_std": 0.5, "training": ("plain", "noise")[i % 2],
             "method": ("SGD", "SAM")[i // 3]} for i in range(n)]


def test_sharpness_board_blitted_equals_a_full_render_and_keeps_limits():
    board = SharpnessBoard(["plain", "noise"], ["SGD", "SAM"], title="hand-made", panel_size=(7.0, 4.0))
    fig = board.show(_rows(), "measure A (nats)")
    limits = board.limits()
    assert _close(_pixels(figure_png(fig, dpi=80)), _full_render(fig, 80))
    fig = board.show([r for r in _rows() if r["training"] == "plain"], "measure A (nats)", limits=limits)
    assert board.limits() == limits                                            # fewer runs: the same axes
    assert _close(_pixels(figure_png(fig, dpi=80)), _full_render(fig, 80))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["plain", "SGD", "SAM"]
    fig = board.show(_rows(scale=100.0), "measure B (points)")                 # another measure: new x axis
    assert board.ax.get_xlabel() == "measure B (points)" and board.limits()[0][1] > 100
    assert _close(_pixels(figure_png(fig, dpi=80)), _full_render(fig, 80))
    with pytest.raises(ValueError, match="rows is empty"):
        board.show([], "x")


def test_sharpness_measure_label_names_the_p_in_use():
    """Issue 19 item 2: after p is changed, the chosen SAMSON measure's label says that p, not its figure's."""
    from samlab.widgets.sharpness import RHO_NOTE, measure_options, measure_title

    assert measure_title("samson_2", 2.0) == "SAMSON's m-sharpness (p = 2)"
    assert measure_title("samson_2", math.inf) == "SAMSON's m-sharpness (p = ∞; Fig. 3 has p = 2)"
    assert measure_title("sam", 4.0) == "SAM's m-sharpness"                     # SAM has no p to change
    labels = dict((k, label) for label, k in measure_options("samson_2", 4.0))
    assert labels["samson_2"] == "SAMSON's m-sharpness (p = 4; Fig. 3 has p = 2)"
    assert labels["samson_inf"] == "SAMSON's m-sharpness (p = ∞) (Fig. 4)"      # not chosen: as in the paper
    assert "slider's ρ" in RHO_NOTE and "Spearman ρ" in RHO_NOTE


def test_correlation_table_cache_gives_the_same_table():
    from samlab.experiments.correlation import correlation_table

    rng = np.random.default_rng(0)
    rows = [{"sharpness": float(x), "gap": float(x + rng.normal()), "training": t}
            for x, t in zip(rng.normal(size=12), ["plain", "noise", "clipping"] * 4)]
    cache: dict = {}
    first = correlation_table(rows, n_boot=200, cache=cache)
    assert len(cache) == 4                                                      # 3 groups and "all"
    again = correlation_table(rows, n_boot=200, cache=cache)
    fresh = correlation_table(rows, n_boot=200)
    assert again.equals(fresh) and first.equals(fresh)
    fewer = correlation_table([r for r in rows if r["training"] != "noise"], n_boot=200, cache=cache)
    assert len(cache) == 5                                                      # only the new "all" computed
    assert fewer.loc["plain"].equals(fresh.loc["plain"])


def test_notebook_02_explorer_shows_every_x_tick_label_whole():
    """The last x tick label of notebook 02's explorer ("0.30") was cut at the figure's right edge."""
    from samlab.plots import plot_perturbation_profiles
    from samlab.experiments.perturbation_profiles import perturbation_profiles

    for p in (2.0, math.inf):
        panels = 3 if math.isinf(p) else 4
        fig = plot_perturbation_profiles(perturbation_profiles(rho=0.5, p=p, c=0.1), highlight=0.1, xmax=0.25,
                                         panel_size=(10.4 / panels, 2.9))
        figure_png(fig, dpi=80)
        renderer, width = fig.canvas.get_renderer(), fig.get_figwidth() * 80
        cut = [(label.get_text(), box.x0, box.x1) for ax in fig.axes for label in ax.get_xticklabels()
               if label.get_visible() and label.get_text()
               for box in [label.get_window_extent(renderer)] if box.x0 < 0 or box.x1 > width]
        assert not cut, f"p = {p}: tick labels past the figure's edge (width {width:.0f} px): {cut}"


def test_notebook_01_sharpness_limits_round_outward_to_a_coarse_grid():
    """Limits that follow only the data but move in coarse steps: quarter decades on a log axis, 1/2/5 x 10^k on
    a linear one (so a small rho move keeps the y axis and the explorer redraws only its lines)."""
    from samlab.plots.scale_invariance import _nice_ylim

    fig, axes = new_figure(1, 2)
    log, lin = axes[0]
    log.set_yscale("log")
    log.set_ylim(0.013, 0.14)
    _nice_ylim(log)
    np.testing.assert_allclose(log.get_ylim(), (10 ** -2.0, 10 ** -0.75))   # log10: -1.89 -> -2, -0.85 -> -0.75
    lin.set_ylim(0.75, 1.44)                                                 # span 0.69 / 4 = 0.17 -> step 0.2
    _nice_ylim(lin)
    np.testing.assert_allclose(lin.get_ylim(), (0.6, 1.6))
    lin.set_ylim(0.7, 1.5)                                                   # a small move of the data: the same
    _nice_ylim(lin)
    np.testing.assert_allclose(lin.get_ylim(), (0.6, 1.6))
