"""Issue 19 for notebooks 01, 03 and 04 (and the sizes of 02's and 04's explorer figures): a control move answers
from precomputed numbers and a figure updated in place, and shows the same picture a fresh build would."""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
import torch

from samlab import plots, widgets
from samlab.experiments import scale_invariance as si


def _pngs(out) -> list[bytes]:
    return [base64.b64decode(o["data"]["image/png"]) for o in out.outputs
            if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


# ------------------------------------------------------------------------------------------- notebook 01

SETTINGS = [dict(rho=0.05, p=2.0, tau_range=(0.5, 1.5), scaling="no biases", asam_adaptive="weights"),
            dict(rho=0.3, p=math.inf, tau_range=(0.2, 2.5), scaling="biases left", asam_adaptive="all"),
            dict(rho=0.1, p=3.0, tau_range=(0.5, 1.5), scaling="biases scaled", asam_adaptive="weights")]


def test_stacked_scaling_is_positive_scaling_to_the_bit():
    net = si.toy_relu_net(bias=True, seed=3)
    taus = si.random_taus(net, 6, low=0.3, high=2.0, seed=4)
    for scale_biases in (True, False):
        stacked = si._stacked_scaling(net, taus, scale_biases)
        for j, t in enumerate(taus):
            one = dict(si.positive_scaling(net, t, scale_biases=scale_biases).named_parameters())
            assert all(torch.equal(stacked[n][j], w) for n, w in one.items())


@pytest.mark.parametrize("setting", SETTINGS)
def test_scaling_sweep_gives_the_study_numbers(setting):
    """The truth is the study's loop over the K networks (tested by hand in test_scale_invariance.py)."""
    sweep = si.ScalingSweep(k=12, seed=1)
    fast, slow = sweep.study(**setting), si.scale_invariance_study(**setting, k=12, seed=1)
    assert list(fast["sharpness"]) == list(slow["sharpness"]) and fast["labels"] == slow["labels"]
    for name, values in slow["sharpness"].items():
        np.testing.assert_allclose(fast["sharpness"][name], values, rtol=1e-10)
    np.testing.assert_allclose(fast["logits"], slow["logits"], rtol=0, atol=1e-12)
    if setting["scaling"] != "biases left":     # the function is unchanged: ASAM is constant (ASAM report sec. I)
        assert (fast["spread"]["asam"] < si.ROUNDOFF) == (setting["scaling"] == "no biases"
                                                         or setting["asam_adaptive"] == "all")


def test_a_rho_move_is_one_forward_pass(monkeypatch):
    sweep = si.ScalingSweep(k=5)
    sweep.prepare(p=2.0)
    calls = []
    monkeypatch.setattr(si, "worst_case_perturbation", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(si, "random_taus", lambda *a, **k: calls.append(2))
    for scaling in si.SCALINGS:          # every scaling and rule was prepared: no perturbation, no new scaling
        for rule in ("weights", "all"):
            sweep.study(rho=0.2, p=2.0, scaling=scaling, asam_adaptive=rule)
    assert calls == []
    with pytest.raises(ValueError, match="rho"):
        sweep.study(rho=0.0)
    with pytest.raises(ValueError, match="asam_adaptive"):
        sweep.study(rho=0.1, asam_adaptive="biases")
    with pytest.raises(ValueError, match="k="):
        si.ScalingSweep(k=0)


def _lines(ax) -> list[tuple]:
    return [(ln.get_label(), ln.get_color(), ln.get_linestyle(), np.asarray(ln.get_xydata()).round(12).tolist())
            for ln in ax.lines if ln.get_visible()]


def _draw(res, **kw):
    return plots.plot_scale_invariance(res["logits"], res["sharpness"], labels=res["labels"], colors=res["colors"],
                                       title="t", **kw)


def test_updated_figure_is_the_saved_figures_content_and_a_fresh_builds_picture():
    sweep = si.ScalingSweep(k=10)
    fig = _draw(sweep.study(**SETTINGS[0]), fixed_layout=True)
    plots.figure_png(fig, dpi=60)
    for setting in SETTINGS[1:]:         # p = inf has a line fewer; then back to four
        res = sweep.study(**setting)
        updated = _draw(res, fig=fig)
        assert updated is fig
        saved = _draw(res)               # what the notebook saves (constrained layout)
        for mine, theirs in zip(updated.axes, saved.axes):
            assert _lines(mine) == _lines(theirs)
            assert mine.get_yscale() == theirs.get_yscale()
            np.testing.assert_allclose(mine.get_ylim(), theirs.get_ylim(), rtol=1e-9)
        assert [t.get_text() for t in updated.legends[0].get_texts()] == list(res["labels"].values())
        fresh = _draw(res, fixed_layout=True)
        assert np.array_equal(_pixels(plots.figure_png(updated, dpi=60)), _pixels(plots.figure_png(fresh, dpi=60)))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)      # matplotlib's own full draw of the updated figure
    blitted = _pixels(plots.figure_png(fig, dpi=60))
    assert (np.abs(_pixels(buf.getvalue()) - blitted).max(axis=2) > 2).mean() < 1e-3


def test_a_new_title_is_drawn_though_nothing_else_changed():
    """The blitted figure layer was keyed by size and dpi only: a suptitle that names rho stayed stale."""
    res = si.ScalingSweep(k=4).study(rho=0.1)
    fig = _draw(res, fixed_layout=True)
    first = _pixels(plots.figure_png(fig, dpi=60))
    plots.plot_scale_invariance(res["logits"], res["sharpness"], labels=res["labels"], colors=res["colors"],
                                title="another title", fig=fig)
    assert not np.array_equal(first, _pixels(plots.figure_png(fig, dpi=60)))


def test_notebook01_explorer_burst_ends_on_the_final_state_and_revisits_are_the_same_frame():
    ui, out = widgets.scale_invariance_explorer(k=6)
    rho = ui.controls["rho"]
    start = _pngs(out)[0]
    for value in (0.1, 0.2, 0.3, 0.25):        # a fast drag: each move redraws synchronously
        rho.value = value
        assert len(_pngs(out)) == 1
    last = _pngs(out)[0]
    other, _ = widgets.scale_invariance_explorer(k=6, rho=0.25)    # a fresh explorer at the final state
    assert np.array_equal(_pixels(last), _pixels(_pngs(other.out)[0]))
    rho.value = 0.05
    assert _pngs(out)[0] == start and ui.timing["cached"]


# ------------------------------------------------------------------------------------------- notebook 03

def test_notebook03_stored_frames_are_rendered_when_built_and_equal_a_fresh_render(tmp_path, monkeypatch):
    from samlab.experiments import variance_generalization as vg
    from samlab.runs import RunStore
    from samlab.widgets import variance

    study = vg.VarianceStudy("smoke", store=RunStore(tmp_path / "runs"), seeds=(0,), epochs=1, n_train=60,
                             n_test=60, test_variances=(1.0, 30.0))
    study.curves(rho=0.5, p=2.0, train_variances=(1.0, 5.0), progress=False, verbose=False)
    drawn = []
    real = variance.plot_generalization_curves
    monkeypatch.setattr(variance, "plot_generalization_curves", lambda tv, curves, **k: drawn.append(
        (*curves, len(k["labels"]))) or real(tv, curves, **k))
    ui, out = variance.variance_explorer(study, rho=0.5, p=2.0, train_variance=1.0)
    # stored: 1 and 5 at p = 2 (five methods) and at p = inf (SAMSON_inf is trained with p = 2: four)
    assert sorted(drawn) == [(1.0, 4), (1.0, 5), (5.0, 4), (5.0, 5)]
    ui.controls["train_variance"].value = 5.0
    ui.controls["p"].value = math.inf
    assert len(drawn) == 4 and len(_pngs(out)) == 1          # kept frames: nothing drawn
    kept = _pngs(out)[0]
    other, other_out = variance.variance_explorer(study, rho=0.5, p=math.inf, train_variance=5.0)
    assert _pngs(other_out)[0] == kept                      # the same picture as a fresh render of that state
    ui.controls["train_variance"].value = 15.0              # not stored: still waits for Run
    assert "not computed yet" in str(out.outputs) and not ui.button.disabled


# ------------------------------------------------------------------------------- figure sizes (item 7)

def _size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_notebook02_explorer_figure_is_as_large_as_the_others():
    """It rendered at 72 dpi, 748 x 165 px: the smallest image of the suite, its text under 10 px. Now 80 dpi (every
    explorer's) and panels 2.9 in tall: 4 x 2.6 in x 80 = 832 px wide, 2.9 x 80 = 232 px tall (by hand)."""
    ui, out = widgets.perturbation_explorer()
    assert _size(_pngs(out)[0]) == (832, 232)
    ui.controls["p"].value = math.inf            # the other layout: the same size
    assert _size(_pngs(out)[0]) == (832, 232)


def test_notebook04_figure_keeps_its_size_whatever_the_method(tmp_path):
    """The reference run (SGD) alone drew one 3.6-inch panel, grown to 560 px wide and 437 px tall; with a
    reference beside it, two panels: 576 px wide. Now the lone run gets one panel as wide as two."""
    from samlab.runs import RunStore
    from samlab.train import TrainConfig, train

    store = RunStore(tmp_path / "runs")
    base = dict(model="small_cnn", dataset="digits", epochs=1, batch_size=32, max_train_samples=32,
                max_test_samples=16, schedule="cosine", augment=False)
    runs = [train(TrainConfig(method=m, **base), store=store, progress=False) for m in ("sgd", "sam")]
    ui, out = widgets.stored_run_explorer(runs)
    sgd = _size(_pngs(out)[0])
    ui.controls["method"].value = "sam"
    assert _size(_pngs(out)[0]) == sgd and sgd[0] == 576
