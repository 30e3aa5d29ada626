"""Notebook 06's findings: the bootstrap comparison against simulations with a known answer, the paired
difference of correlations, the cluster resampling, Holm, and the ledger rows' shape."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from samlab.evidence import Comparison
from samlab.experiments import sharpness_claims as sc
from samlab.experiments.correlation import spearman_resamples
from samlab.experiments.seeds import Setting

METHODS = ("SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf")


def _rows(xs, ys, training="plain", seeds=None):
    seeds = seeds if seeds is not None else range(len(xs))
    return [{"setting": Setting(METHODS[i % 5], training, s), "training": training, "method": METHODS[i % 5],
             "sharpness": float(x), "gap": float(y)} for i, (x, y, s) in enumerate(zip(xs, ys, seeds))]


def test_spearman_resamples_match_scipy():
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(20, 9)), rng.normal(size=(20, 9))
    xs[:, 3] = xs[:, 4]                                   # ties: average ranks
    got = spearman_resamples(xs, ys)
    want = [stats.spearmanr(a, b)[0] for a, b in zip(xs, ys)]
    assert got == pytest.approx(want)
    assert math.isnan(spearman_resamples(np.ones((1, 5)), ys[:1, :5])[0])
    with pytest.raises(ValueError, match="2-D"):
        spearman_resamples(xs[0], ys[0])


def test_bootstrap_p_value_and_interval_by_hand():
    boots = np.array([-1.0] * 10 + [1.0] * 90)
    c = sc.bootstrap_comparison(0.5, boots, n=7, paired=False, method="m")
    # 2 * min(10 + 1, 90 + 1) / 101
    assert c.p_value == pytest.approx(22 / 101) and (c.low, c.high) == (-1.0, 1.0) and c.verdict == "unresolved"
    c = sc.bootstrap_comparison(0.5, np.linspace(0.1, 0.9, 200), n=7, paired=True, method="m")
    assert c.p_value == pytest.approx(2 / 201) and c.verdict == "supported" and c.paired
    assert math.isnan(c.effect_size) and c.seeds_needed() is None
    few = sc.bootstrap_comparison(0.5, np.array([0.2] * 5 + [math.nan] * 50), n=3, paired=False, method="m")
    assert math.isnan(few.low) and few.p_value == 1.0 and few.verdict == "unresolved"


def test_correlation_interval_covers_the_truth_in_simulation():
    # bivariate normal with rho = 0.6: Spearman's population value is (6 / pi) asin(rho / 2)
    rho = 0.6
    truth = 6 / math.pi * math.asin(rho / 2)
    rng = np.random.default_rng(1)
    hits, trials = 0, 150
    for t in range(trials):
        z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=40)
        c = sc.correlation_comparison(_rows(z[:, 0], z[:, 1]), n_boot=400, seed=t)
        hits += c.low <= truth <= c.high
    # a percentile bootstrap at n = 40 covers somewhat below 95 %; far below would be a bug
    assert 0.85 <= hits / trials <= 0.99


def test_paired_difference_cancels_what_both_measures_share():
    # x_a and x_b are the same ranks but for small noise: their correlations with y move together resample by
    # resample, so the paired interval of the difference is far narrower than either correlation's interval
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    y = x + rng.normal(scale=1.0, size=30)
    a, b = _rows(x, y), _rows(x + rng.normal(scale=0.05, size=30), y)
    d = sc.difference_comparison(a, b, n_boot=1000)
    ca = sc.correlation_comparison(a, n_boot=1000)
    assert d.paired and d.high - d.low < 0.25 * (ca.high - ca.low)
    assert d.difference == pytest.approx(stats.spearmanr(x, y)[0] - stats.spearmanr(b_x := [r["sharpness"] for r in b],
                                                                                      y)[0])
    assert len(b_x) == 30
    # a measure unrelated to the gap against a strongly related one: the difference is resolved
    c = sc.difference_comparison(a, _rows(rng.normal(size=30), y), n_boot=1000)
    assert c.verdict == "supported"


def test_seed_clusters_are_resampled_whole():
    seeds = [0, 0, 1, 1, 2, 2]
    idx = sc.resample_indices(seeds, 50, np.random.default_rng(0), "seed")
    assert idx.shape == (50, 6)
    for row in idx:
        pairs = {tuple(sorted((row[i], row[i + 1]))) for i in range(0, 6, 2)}
        assert pairs <= {(0, 1), (2, 3), (4, 5)}
    with pytest.raises(ValueError, match="same number of runs per seed"):
        sc.resample_indices([0, 0, 1], 5, np.random.default_rng(0), "seed")
    with pytest.raises(ValueError, match="unit"):
        sc.resample_indices(seeds, 5, np.random.default_rng(0), "draw")


def test_findings_cover_each_configuration_and_are_holm_adjusted():
    rng = np.random.default_rng(3)
    rows = {}
    x = rng.normal(size=15)
    seeds = [i // 5 for i in range(15)]
    for t in sc.TRAININGS:
        y = x + rng.normal(scale=0.3, size=15)
        for m in ("samson_2", "samson_inf", "curvature", "sam", "asam", "keskar"):
            noise = 0.1 if m != "keskar" else 5.0                 # Keskar's unrelated to the gap
            rows.setdefault(m, []).extend(_rows(x + rng.normal(scale=noise, size=15), y, t, seeds))
    f = sc.findings(rows, "smoke", n_boot=2000)   # p >= 2 / 2001: Holm over 15 needs B > 600 to resolve anything
    assert [r.key for r in f] == ["correlation"] * 9 + ["appendix_c"] * 6
    assert all(r.p_adjusted >= r.p_value for r in f)
    assert all(r.verdict == "supported" for r in f if r.key == "correlation")
    assert "plain" in f[0].subject and f[0].units == "ρ" and f[0].n == 15
    assert sum(r.verdict == "supported" for r in f if r.key == "appendix_c") >= 4
    text = sc.unit_check(rows, n_boot=200)
    assert text.count("runs [") == 9 and "seeds [" in text


def test_pooled_reading_says_when_it_contradicts_the_paper():
    x = np.arange(10.0)
    rows = {"sam": _rows(x, -x), "asam": _rows(x, -x), "keskar": _rows(-x, -x)}   # same runs, same gaps
    text = sc.pooled_reading(rows, n_boot=200)
    assert "CONTRADICTS appendix C" in text and "NEGATIVE" in text


def test_seeds_needed_grows_as_the_effect_shrinks():
    wide = Comparison(0.2, -0.2, 0.6, 0.3, math.nan, 15, False, "")
    narrow_effect = Comparison(0.1, -0.3, 0.5, 0.6, math.nan, 15, False, "")
    assert sc._seeds_needed(narrow_effect, 3) > sc._seeds_needed(wide, 3) > 3
    # half-width 0.4 at 3 seeds, target 0.2 / 2.80: (0.4 / 1.96 / 0.0714)^2 * 3 = 24.5 -> 25
    assert sc._seeds_needed(wide, 3) == 25
