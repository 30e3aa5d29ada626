"""Notebook 06's study: correlation statistics against hand-computed cases, the metric specs and their bad input,
the scatter figure from plain data, and the store/explorer path on one tiny run."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from samlab.experiments import sharpness_robustness as sr
from samlab.experiments.correlation import _bootstrap, correlation, correlation_table
from samlab.experiments.robustness import noise_curve_spec, noise_curves
from samlab.experiments.seeds import Setting, training_of


# ------------------------------------------------------------------------------------------------ statistics
def test_perfectly_monotone_data_has_rank_correlations_one():
    x = [0.1, 0.2, 0.5, 0.9, 3.0]
    y = [1.0, 2.0, 2.5, 7.0, 7.1]           # monotone, not linear
    c = correlation(x, y, n_boot=200)
    assert c["spearman"] == pytest.approx(1.0) and c["kendall"] == pytest.approx(1.0)
    assert c["pearson"] < 1.0
    assert c["spearman_ci"] == pytest.approx((1.0, 1.0)) and c["kendall_ci"] == pytest.approx((1.0, 1.0))
    d = correlation(x, [-v for v in y], n_boot=200)
    assert d["spearman"] == pytest.approx(-1.0) and d["kendall"] == pytest.approx(-1.0)


def test_pearson_of_a_small_data_set_by_hand():
    # x - 3 = (-2, -1, 0, 1, 2), y - 4 = (-2, 0, 1, 0, 1): sum of products 6, squares 10 and 6 -> r = 6 / sqrt(60)
    c = correlation([1, 2, 3, 4, 5], [2, 4, 5, 4, 5], n_boot=100)
    assert c["pearson"] == pytest.approx(6 / math.sqrt(60))
    assert c["pearson_p"] == pytest.approx(stats.pearsonr([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])[1])


def test_vectorised_bootstrap_matches_scipy_resample_by_resample():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=8), rng.normal(size=8)
    y[2] = y[5]                               # a tie: tau-b and average ranks
    idx = rng.integers(0, 8, (50, 8))
    boot = _bootstrap(x[idx], y[idx])
    for i in range(50):
        xs, ys = x[idx[i]], y[idx[i]]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            assert math.isnan(boot["spearman"][i])
            continue
        assert boot["pearson"][i] == pytest.approx(stats.pearsonr(xs, ys)[0])
        assert boot["spearman"][i] == pytest.approx(stats.spearmanr(xs, ys)[0])
        assert boot["kendall"][i] == pytest.approx(stats.kendalltau(xs, ys)[0])


def test_bootstrap_interval_contains_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = x + rng.normal(scale=0.8, size=12)
    a, b = correlation(x, y, seed=7), correlation(x, y, seed=7)
    assert a == b
    for k in ("spearman", "kendall", "pearson"):
        lo, hi = a[f"{k}_ci"]
        assert lo <= a[k] <= hi
    assert correlation(x, y, seed=8)["pearson_ci"] != a["pearson_ci"]


def test_fewer_than_three_runs_or_a_constant_coordinate_give_nan_and_a_note():
    c = correlation([1.0, 2.0], [3.0, 1.0])
    assert math.isnan(c["spearman"]) and math.isnan(c["pearson_ci"][0]) and "n = 2 < 3" in c["note"]
    c = correlation([1.0, 1.0, 1.0, 1.0], [3.0, 1.0, 2.0, 5.0])
    assert math.isnan(c["kendall"]) and "constant" in c["note"]
    with pytest.raises(ValueError, match="n_boot"):
        correlation([1, 2, 3], [1, 2, 3], n_boot=0)
    with pytest.raises(ValueError, match="same length"):
        correlation([1, 2, 3], [1, 2])


def _rows(values, training="plain", method="SGD"):
    return [{"name": f"{training}{i}", "training": training, "method": method, "sharpness": s, "gap": g, "gap_std": 0.5}
            for i, (s, g) in enumerate(values)]


def test_correlation_table_per_configuration_and_overall():
    rows = _rows([(1, 1), (2, 2), (3, 3), (4, 5)]) + _rows([(1, 2), (2, 1)], "clipping")
    t = correlation_table(rows, n_boot=200)
    assert list(t.index) == ["plain", "clipping", "all"]
    assert t.loc["plain", "Spearman ρ"] == pytest.approx(1.0)
    assert t.loc["all", "n"] == 6 and t.loc["clipping", "n"] == 2
    assert math.isnan(t.loc["clipping", "Kendall τ"]) and "< 3" in t.loc["clipping", "note"]


# ------------------------------------------------------------------------------------------------ specs and input
def test_measure_specs_follow_the_papers_neighbourhoods():
    s = sr.measure_spec("samson_inf", "quick")
    assert (s.method, s.rho, s.p, s.m, s.max_samples) == ("samson", 0.5, math.inf, 128, 1024)
    assert sr.measure_spec("sam").rho == 0.05 and sr.measure_spec("asam").eta == 0.0
    assert sr.measure_spec("asam", p=math.inf).p == 2.0      # p belongs to SAMSON only
    k = sr.measure_spec("keskar", "quick")
    assert (k.max_samples, k.maxiter) == (500, 5)
    assert "ρ = 0.5, p = ∞, m = 128" in sr.axis_label("samson_inf")
    w = sr.measure_spec("asam_w", "quick")
    assert (w.method, w.adaptive) == ("asam", "weights_only") and sr.measure_spec("asam").adaptive is None
    assert "weights only" in sr.axis_label("asam_w")
    c = sr.measure_spec("curvature", "quick")
    assert (c.probes, c.max_samples) == (16, 500) and "16 Hutchinson probes" in sr.axis_label("curvature")


@pytest.mark.parametrize("m", [0, -3, 2.5])
def test_m_must_be_a_positive_integer(m):
    with pytest.raises(ValueError, match="m="):
        sr.measure_spec("sam", "quick", m=m)


def test_m_larger_than_the_data_is_refused():
    with pytest.raises(ValueError, match="m=2048 is larger than the 1024"):
        sr.measure_spec("sam", "quick", m=2048, n_train=1500)
    with pytest.raises(ValueError, match="measure"):
        sr.measure_spec("hessian")


def test_a_robustness_axis_that_was_not_computed_is_refused():
    sgd = Setting("SGD")
    cfgs = {sgd: sr.population("smoke")[sgd]}
    curve = {"sigmas": [0.0, 0.2, 0.4], "accs": [[0.9, 0.9], [0.8, 0.7], [0.5, 0.4]], "mean_acc": [0.9, 0.75, 0.45]}
    value = {sgd: {"m_sharpness": 0.01}}
    row = sr.metric_rows(cfgs, value, {sgd: curve})[0]
    assert row["gap"] == pytest.approx(45.0) and row["gap_std"] == pytest.approx(100 * math.sqrt(0.005))
    with pytest.raises(ValueError, match="high=0.3"):
        sr.metric_rows(cfgs, value, {sgd: curve}, high=0.3)
    # against the AdaBS-calibrated clean accuracy: 0.88 - (0.5, 0.4) = (0.38, 0.48)
    calib = dict(curve, adabs_applied=True)
    row = sr.metric_rows(cfgs, value, {sgd: calib}, clean={sgd: {"accuracy": 0.88}})[0]
    assert row["gap"] == pytest.approx(43.0) and row["clean_acc"] == pytest.approx(88.0)
    with pytest.raises(ValueError, match="without AdaBS"):
        sr.metric_rows(cfgs, value, {sgd: curve}, clean={sgd: {"accuracy": 0.88}})


def test_population_holds_notebook_04s_runs_once():
    from samlab.experiments.cifar import notebook_configs

    pop = sr.population("quick")
    assert set(notebook_configs("quick").values()) <= set(pop.values())
    assert len(set(pop.values())) == len(pop)
    assert {training_of(c) for c in notebook_configs("quick").values()} == {"plain"}
    smoke = sr.population("smoke")
    assert {notebook_configs("smoke")[k] for k in sr.SMOKE_RUNS} <= set(smoke.values())


# ------------------------------------------------------------------------------------------------ figure
def test_scatter_from_plain_rows():
    from samlab.plots import plot_sharpness_robustness

    rows = _rows([(0.1, 5.0), (0.2, 7.0)]) + _rows([(0.05, 2.0)], "clipping", "SAMSON_2")
    fig = plot_sharpness_robustness({"samson_2": rows, "keskar": rows}, xlabels={"samson_2": "m-sharpness (nats)"},
                                    titles={"samson_2": "Fig. 3"}, title="small_cnn on MNIST-1D")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and axes[0].get_xlabel() == "m-sharpness (nats)" and axes[0].get_title() == "Fig. 3"
    assert "robustness gap (points)" in axes[0].get_ylabel()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["plain", "+ weight clipping", "SGD", "SAMSON_2"]
    assert axes[0].get_xscale() == "log"
    neg = _rows([(-0.1, 5.0), (0.2, 7.0)])
    fig = plot_sharpness_robustness({"sam": neg}, xlabels={"sam": "x"})
    assert fig.axes[0].get_xscale() == "linear" and "value ≤ 0" in fig.axes[0].get_xlabel()


def test_legend_of_a_narrow_figure_stays_inside_it():
    from samlab.plots import plot_sharpness_robustness

    rows = [dict(r, method=m) for m, r in zip(["SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf"],
                                               _rows([(0.1, 1), (0.2, 2), (0.3, 3), (0.4, 4), (0.5, 5)]))]
    rows += _rows([(0.2, 3.0)], "noise") + _rows([(0.3, 1.0)], "clipping")
    fig = plot_sharpness_robustness({"sam": rows}, ncols=1, panel_size=(5.0, 3.6))
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()                          # runs the constrained layout, as saving does
    fig.savefig(io.BytesIO(), format="png")
    box = fig.legends[0].get_window_extent()
    width = fig.get_figwidth() * fig.dpi
    assert box.x0 >= 0 and box.x1 <= width, (box, width)
    for ax in fig.axes:   # never over the data
        assert not box.overlaps(ax.get_window_extent())
    with pytest.raises(ValueError, match="keskar"):
        plot_sharpness_robustness({"samson_2": rows, "keskar": []})


# ------------------------------------------------------------------------------------------------ store + explorer
def test_stored_measures_and_explorer_on_one_tiny_run(_isolated_store):
    from samlab.runs import RunStore
    from samlab.train import train
    from samlab.widgets import sharpness_explorer

    sgd = Setting("SGD")
    cfg = replace(sr.population("smoke")[sgd], epochs=1, max_train_samples=64, max_test_samples=32)
    store = RunStore()
    train(cfg, store=store, progress=False)
    configs = {sgd: cfg}
    found, missing = sr.stored_sharpness_values(configs, "sam", "smoke", store=store)
    assert (found, missing) == ({}, [sgd])
    values = sr.sharpness_values(configs, "sam", "smoke", store=store)
    again, missing = sr.stored_sharpness_values(configs, "sam", "smoke", store=store)
    assert missing == [] and again[sgd]["m_sharpness"] == values[sgd]["m_sharpness"]
    with pytest.raises(ValueError, match="m=128 is larger than the 32"):
        sr.sharpness_values(configs, "sam", "smoke", store=store, m=128)
    curves = noise_curves(configs, noise_curve_spec("smoke"), store=store, progress=False)
    ui, out = sharpness_explorer(configs, curves, "smoke", store=store, n_boot=50)
    assert ui.button is not None and not ui.button.disabled    # SAMSON_2 at the defaults: not stored
    assert "Not stored yet: SAMSON m-sharpness" in out.outputs[0]["data"]["text/plain"]
    ui.controls["measure"].value = "sam"                        # stored above: answers at once
    text = [o["data"]["text/plain"] for o in out.outputs]
    assert "SamlabFigure" in text[0] and "n = 1 < 3" in text[1] and ui.button.disabled
    ui.controls["rho"].value = 0.1
    assert "Not stored yet" in out.outputs[0]["data"]["text/plain"] and not ui.button.disabled
    ui.run()
    assert "SamlabFigure" in out.outputs[0]["data"]["text/plain"]
    ui.controls["include"].value = ()
    message = out.outputs[0]["data"]["text/plain"]       # issue 19 item 8: named as the control is labelled
    assert "'configurations'" in message and "include" not in message
    ui.close()
