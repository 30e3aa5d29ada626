"""Notebook 05's study: the Pareto frontier by hand, the population per scale, the paper's robustness tables and
presets, merging seeds (the ledger findings are tested in tests/test_robustness_claims.py)."""
from __future__ import annotations

import math

import pytest

from samlab import papers
from samlab.experiments import cifar
from samlab.experiments import robustness as R
from samlab.experiments.seeds import Setting, pool_seeds, setting_of


# ------------------------------------------------------------------------------------------------ Pareto
def test_pareto_front_by_hand():
    pts = [(0.9, 0.1), (0.8, 0.5), (0.7, 0.5), (0.6, 0.6), (0.8, 0.5), (0.5, 0.55), (0.95, 0.05)]
    #      front       front      dominated by 2nd   front       equal to 2nd: front   dominated by 4th   front
    assert R.pareto_front(pts) == [True, True, False, True, True, False, True]
    assert R.pareto_front([(1.0, 1.0)]) == [True]
    assert R.pareto_front([]) == []
    assert R.pareto_front([(0.5, 0.5), (0.5, 0.4)]) == [True, False]  # equal in one, worse in the other
    with pytest.raises(ValueError, match="NaN"):
        R.pareto_front([(math.nan, 0.1)])


def S(method: str, training: str = "plain", seed: int | None = None) -> Setting:
    return Setting(method, training, seed)


def curve(accs_by_sigma, sigmas=(0.0, 0.2, 0.4)):
    import statistics

    return {"sigmas": list(sigmas), "accs": accs_by_sigma, "draws": len(accs_by_sigma[0]),
            "mean_acc": [statistics.fmean(a) for a in accs_by_sigma],
            "std_acc": [statistics.stdev(a) if len(a) > 1 else 0.0 for a in accs_by_sigma]}


def test_rows_gap_front_and_compare_rule():
    configs = R.population("smoke")
    curves = {
        S("SGD"): curve([[0.9, 0.9], [0.6, 0.8], [0.3, 0.5]]),                       # 0.4: 0.40 +- 0.14
        S("SGD", "noise"): curve([[0.85, 0.85], [0.8, 0.8], [0.45, 0.47]]),           # 0.4: 0.46 +- 0.01
        S("SGD", "clipping"): curve([[0.8, 0.8], [0.75, 0.75], [0.6, 0.62]]),         # 0.4: 0.61 +- 0.01
        S("SAMSON_2"): curve([[0.95, 0.95], [0.9, 0.9], [0.5, 0.52]]),               # 0.4: 0.51
        S("SAMSON_2", "clipping"): curve([[0.7, 0.7], [0.6, 0.6], [0.55, 0.57]]),     # dominated by SGD + clipping
    }
    rows = {r["name"]: r for r in R.robustness_rows(curves, configs)}
    assert rows["SGD"]["gap"] == pytest.approx(0.5) and rows["SGD"]["gap_std"] == pytest.approx(math.sqrt(0.02))
    assert [k for k, r in rows.items() if r["front"]] == ["SGD + clipping", "SAMSON_2"]
    assert rows["SGD + clipping"]["training"] == "clipping" and rows["SGD + noise"]["setting"] == S("SGD", "noise")
    table = R.robustness_table(curves, configs)
    assert list(table.index)[0] == "SGD + clipping" and table.loc["SAMSON_2", "Pareto"] == "yes"


# ------------------------------------------------------------------------------------------------ population
def test_population_quick_reuses_notebook_04():
    pop = R.population("quick")
    nb04 = cifar.notebook_configs("quick")
    assert [k.label for k in pop] == ["SGD", "SGD + noise", "SGD + clipping", "SAM", "SAM + clipping", "ASAM",
                                      "ASAM + clipping", "SAMSON_2", "SAMSON_2 + clipping", "SAMSON_inf",
                                      "SAMSON_inf + clipping"]
    assert all(setting_of(c, seed=False) == k for k, c in pop.items())
    for name in ("SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf"):
        assert pop[S(name)] == nb04[name]  # the same config: the same stored run
        assert pop[S(name, "clipping")].clip == R.CLIP_DEFAULT["quick"]
    noisy = pop[S("SGD", "noise")]
    assert (noisy.noise_sigma_g, noisy.noise_g_max, noisy.clip_std_alpha, noisy.clip) == (0.94, 25.0, 2.0, None)
    assert len(set(pop.values())) == len(pop)
    with_noise = R.population("quick", noise_trained=True, clip=0.15)
    assert len(with_noise) == 15 and with_noise[S("SAMSON_inf", "noise")].p == math.inf
    assert with_noise[S("SAM", "clipping")].clip == 0.15
    assert set(R.clipped_at(pop, 0.05)) == {k for k in pop if k.training == "clipping"}
    smoke = R.population("smoke")
    assert list(smoke) == list(R.SMOKE_RUNS) and smoke[S("SGD")] == cifar.notebook_configs("smoke")["SGD"]


def test_population_paper_is_table5():
    pop = R.population("paper")
    assert len(pop) == 15 and pop[S("SGD")].model == "vgg13_bn" and pop[S("SGD")].dataset == "cifar10"
    assert pop[S("SGD", "clipping")].clip == 0.15 and pop[S("SAM")].rho == 0.1 and pop[S("SAM", "clipping")].clip == 0.2
    assert pop[S("SAMSON_2")].rho == 0.2 and pop[S("SAMSON_2", "clipping")].rho == 0.5
    assert pop[S("SAMSON_2", "noise")].rho == 0.1 and pop[S("SAMSON_2", "noise")].clip_std_alpha == 2.5
    assert pop[S("SAMSON_inf")].rho == 1.0 and pop[S("SAMSON_inf")].p == math.inf
    assert all(c.epochs == 200 and c.batch_size == 128 and c.lr_step_every == 50 for c in pop.values())
    c100 = R.population("paper", "cifar100")
    assert c100[S("SGD")].model == "mobilenetv2" and c100[S("SAMSON_2")].rho == 1.0
    assert c100[S("ASAM", "noise")].rho == 1.0
    assert len(R.population("paper", noise_trained=False)) == 11
    digits = R.population("paper", "digits")
    assert all(c.dataset == "digits" and not c.augment for c in digits.values())


def test_specs_per_scale():
    assert R.noise_curve_spec("paper").draws == 10 and R.noise_curve_spec("quick").draws == 5
    assert R.noise_curve_spec("quick").sigmas[0] == 0.0 and R.noise_curve_spec("quick").sigmas[-1] == 0.4
    assert R.noise_curve_spec("smoke").sigmas == (0.0, 0.2, 0.4)
    from samlab.analog import YEAR

    for scale in ("smoke", "quick", "paper"):
        spec = R.pcm_curve_spec(scale)
        assert YEAR in spec.times and min(spec.times) == 1.0
    with pytest.raises(ValueError, match="scale"):
        R.population("huge")
    with pytest.raises(ValueError, match="clip"):
        R.population("quick", clip=0)


def test_pcm_rows_pick_one_year():
    from samlab.analog import YEAR

    pcm = {S("SAM"): {"times": [1.0, 3600.0, YEAR, 10 * YEAR], "mean_acc": [0.9, 0.8, 0.7, 0.6],
                 "std_acc": [0, 0.01, 0.02, 0.03], "accs": [[0.9, 0.8, 0.7, 0.6]], "digital_acc": 0.95}}
    (row,) = R.pcm_rows(pcm)
    assert row["time_s"] == YEAR and row["acc"] == 0.7 and row["std"] == 0.02 and row["digital"] == 0.95


# ------------------------------------------------------------------------------------------------ papers
def test_paper_tables():
    g = papers.ROBUSTNESS_GRID
    assert g["sam_rho"] == (0.05, 0.1, 0.2, 0.5) and g["asam_rho"] == (0.5, 1.0, 1.5, 2.0)
    assert g["samson_rho"] == (0.1, 0.2, 0.5, 1.0) and g["clip"] == (0.05, 0.1, 0.15, 0.2)
    assert len(papers.robustness_settings(source="Table 5")) == 14
    (t6,) = papers.robustness_settings(source="Table 6", method="SAMSON_inf", training="clipping")
    assert (t6.rho, t6.c, t6.alpha, t6.name) == (1.0, 0.2, None, "SAMSON_inf + clipping")
    (t7,) = papers.robustness_settings(source="Table 7", method="SAM", training="noise")
    assert (t7.rho, t7.alpha) == (0.05, 2.5)
    grid = papers.preset("samson-table4-grid-vgg13_bn-cifar10")
    assert len(grid) == len(set(grid)) == 1 + 4 + 3 + (4 + 4 + 8) * (1 + 4 + 3)
    (one,) = papers.preset("samson-table5-vgg13_bn-cifar10-samsoninf-noise")
    assert (one.rho, one.p, one.noise_sigma_g, one.clip_std_alpha) == (0.1, math.inf, 0.94, 2.5)
    assert not hasattr(papers, "PAPER_CLAIMS")  # the claims live in samlab.ledger.CLAIMS
    with pytest.raises(ValueError, match="method"):
        papers.robust_config("ESAM")


# ------------------------------------------------------------------------------------------------ figures, widget
def test_figures_from_plain_data():
    from samlab.plots import plot_noise_curves, plot_pcm_curves
    from samlab.plots import robustness as R_plots

    configs = R.population("smoke")
    curves = {k: curve([[0.9, 0.9], [0.7 + 0.01 * i, 0.72], [0.5, 0.5 + 0.01 * i]]) for i, k in enumerate(configs)}
    series = R.series(curves, configs)
    assert [s["front"] for s in series] == [r["front"] for r in R.robustness_rows(curves, configs)]
    fig = plot_noise_curves(series, sigma_range=(0.0, 0.2), title="small_cnn on digits")
    # smoke population: plain, clipping and noise runs -> three curve panels on one y axis, then the Pareto plane
    plain, clipped, noisy, right = fig.axes[:4]
    assert [ax.get_title() for ax in (plain, clipped, noisy)] == [R_plots.PANEL_TITLES[t] for t in
                                                                   ("plain", "clipping", "noise")]
    assert len(plain.get_lines()) and all(len(ax.containers) for ax in (plain, clipped, noisy))
    assert plain.get_shared_y_axes().joined(plain, clipped) and plain.get_shared_y_axes().joined(plain, noisy)
    assert len(clipped.containers) == sum(s["training"] == "clipping" for s in series)
    for ax in (plain, clipped, noisy):
        assert "σ_c" in ax.get_xlabel() or "sigma_c" in ax.get_xlabel()
        assert ax.get_legend() is None and ax.get_xlim()[1] < 0.25   # the legend is the figure's, below the panels
    assert "%" in plain.get_ylabel() and "%" in right.get_xlabel() and fig.legends
    with pytest.raises(ValueError, match="sigma_range"):
        plot_noise_curves(series, sigma_range=(0.3, 0.1))
    with pytest.raises(ValueError, match="empty"):
        plot_noise_curves([])
    from samlab.analog import YEAR

    pcm = {S("SGD"): {"times": [1.0, YEAR], "mean_acc": [0.9, 0.8], "std_acc": [0.0, 0.01], "accs": [[0.9, 0.8]],
                   "digital_acc": 0.91}}
    fig = plot_pcm_curves(R.pcm_series(pcm, configs), title="t")
    assert fig.axes[0].get_xscale() == "log" and "programming" in fig.axes[0].get_xlabel()


def test_explorer_answers_from_the_store_or_says_what_run_would_do(tmp_path):
    from samlab.runs import RunStore
    from samlab.train import train_all
    from samlab.widgets import robustness_explorer

    store = RunStore(tmp_path / "runs")
    configs = {k: v for k, v in R.population("smoke").items() if k in (S("SGD"), S("SGD", "clipping"))}
    train_all(list(configs.values()), store=store, progress=False)
    R.noise_curves(configs, R.noise_curve_spec("smoke"), store=store, progress=False)
    ui, out = robustness_explorer(configs, "smoke", store=store, pcm=False)
    kinds = [list(o["data"]) for o in out.outputs]
    assert any("image/png" in k for k in kinds)  # stored: drawn at once
    assert "Pareto" in out.outputs[0]["data"]["text/plain"]
    ui.controls["c"].value = 0.05
    text = out.outputs[0]["data"]["text/plain"]
    assert "Run would train 1 run (SGD + clipping)" in text and ui.button is not None and not ui.button.disabled
    ui.controls["c"].value = 0.1
    ui.controls["methods"].value = ()
    assert "Cannot draw" in out.outputs[0]["data"]["text/plain"]
    found, missing = R.stored_noise_curves(R.clipped_at(configs, 0.05), R.noise_curve_spec("smoke"), store=store)
    assert not found and missing == [S("SGD", "clipping")]
    ui.close()


# ------------------------------------------------------------------------------------------------ seeds (MNIST-1D)
def test_pool_seeds_by_hand():
    configs = R.population("quick", "mnist1d")
    a = curve([[0.9, 0.9], [0.6, 0.8]], sigmas=(0.0, 0.4))          # seed 0: clean 0.9, noisy draws 0.6 and 0.8
    b = curve([[0.8, 0.8], [0.5, 0.5]], sigmas=(0.0, 0.4))          # seed 1: clean 0.8, noisy draws 0.5 and 0.5
    single = curve([[0.7, 0.7], [0.4, 0.6]], sigmas=(0.0, 0.4))
    pooled, settings = pool_seeds({S("SAM", seed=0): a, S("SAM", seed=1): b, S("SGD", seed=0): single}, configs)
    assert list(pooled) == [S("SAM"), S("SGD")] and settings[S("SAM")] == configs[S("SAM", seed=0)]
    sam = pooled[S("SAM")]
    assert sam["seeds"] == 2 and sam["draws"] == 2 and sam["runs"] == ["SAM · seed 0", "SAM · seed 1"]
    assert sam["accs"] == [[0.9, 0.9, 0.8, 0.8], [0.6, 0.8, 0.5, 0.5]]
    assert sam["mean_acc"] == pytest.approx([0.85, 0.6])
    # clean spread: one value per seed (0.9 and 0.8, each 0.05 from their mean), sample std sqrt(2 * 0.0025 / 1);
    # the repeated draws must not count (over all four values it would be sqrt(4 * 0.0025 / 3))
    assert sam["std_acc"][0] == pytest.approx(math.sqrt(0.005))
    assert sam["std_acc"][1] == pytest.approx(math.sqrt(0.06 / 3))  # sigma 0.4: draws 0.6, 0.8, 0.5, 0.5 (mean 0.6)
    # the gap keeps seed s's clean accuracy with seed s's draws: 0.3, 0.1, 0.3, 0.3
    from samlab.noise import robustness_gap

    assert robustness_gap(sam, 0.0, 0.4)[0] == pytest.approx(0.25)
    assert pooled[S("SGD")]["seeds"] == 1 and pooled[S("SGD")]["accs"] == single["accs"]
    rows = {r["name"]: r for r in R.robustness_rows(pooled, settings)}
    assert rows["SAM"]["seeds"] == 2 and rows["SAM"]["gap"] == pytest.approx(0.25)
    assert "seeds" in R.robustness_table(pooled, settings).columns
    # PCM curves: accs[repeat][time]; seeds' repeats are stacked
    p0 = {"times": [1.0, 2.0], "accs": [[0.9, 0.8], [0.7, 0.6]], "mean_acc": [0.8, 0.7], "std_acc": [0.1, 0.1],
          "digital_acc": 0.95}
    p1 = {"times": [1.0, 2.0], "accs": [[0.5, 0.4], [0.3, 0.2]], "mean_acc": [0.4, 0.3], "std_acc": [0.14, 0.14],
          "digital_acc": 0.85}
    pcm, _ = pool_seeds({S("SAM", seed=0): p0, S("SAM", seed=1): p1}, configs)
    assert pcm[S("SAM")]["accs"] == [[0.9, 0.8], [0.7, 0.6], [0.5, 0.4], [0.3, 0.2]]
    assert pcm[S("SAM")]["mean_acc"] == pytest.approx([0.6, 0.5])
    assert pcm[S("SAM")]["std_acc"][0] == pytest.approx(math.sqrt(0.2 / 3))   # 0.9, 0.7, 0.5, 0.3 around 0.6
    assert pcm[S("SAM")]["digital_acc"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="different sigmas"):
        pool_seeds({S("SAM", seed=0): a, S("SAM", seed=1): curve([[0.8], [0.5]], sigmas=(0.0, 0.2))}, configs)


def test_population_mnist1d():
    pop = R.population("quick", "mnist1d")
    settings = ["SGD", "SGD + noise", "SGD + clipping", "SAM", "SAM + clipping", "SAM + noise", "ASAM",
                "ASAM + clipping", "ASAM + noise", "SAMSON_2", "SAMSON_2 + clipping", "SAMSON_2 + noise",
                "SAMSON_inf", "SAMSON_inf + clipping", "SAMSON_inf + noise"]
    seeds = R.MNIST1D_RUNS["quick"]["seeds"]
    assert len(seeds) >= 3 and len(pop) == len(settings) * len(seeds) and len(set(pop.values())) == len(pop)
    assert [k.label for k in list(pop)[:len(settings)]] == [f"{s} · seed {seeds[0]}" for s in settings]
    assert S("SAM", "clipping", 2) in pop
    for setting, cfg in pop.items():
        assert (cfg.dataset, cfg.model) == ("mnist1d", R.MNIST1D_MODEL)
        assert setting_of(cfg) == setting and setting.seed == cfg.seed
        if cfg.method != "base":
            assert cfg.rho == R.MNIST1D_RHO[setting.method]
        assert (cfg.clip is not None) == (setting.training == "clipping")
    assert pop[S("SAMSON_inf", seed=0)].p == math.inf and pop[S("SAMSON_2", seed=0)].p == 2.0
    assert pop[S("SGD", "clipping", 1)].clip == R.MNIST1D_CLIP
    noisy = pop[S("SGD", "noise", 0)]
    assert noisy.noise_sigma_g == papers.NOISE_SIGMA_G and noisy.clip_std_alpha == 2.0
    assert pop[S("SGD", seed=2)].epochs == pop[S("SGD", seed=0)].epochs == R.MNIST1D_RUNS["quick"]["epochs"]
    assert pop[S("SAMSON_inf", "noise", 1)].noise_sigma_g == papers.NOISE_SIGMA_G
    assert pop[S("SAM", "noise", 0)].rho == pop[S("SAM", seed=0)].rho and pop[S("SAM", "noise", 0)].clip is None
    assert len(R.population("quick", "mnist1d", seeds=(5,))) == len(settings)
    assert len(R.population("quick", "mnist1d", noise_trained=False)) == (len(settings) - 4) * len(seeds)
    smoke = R.population("smoke", "mnist1d")
    assert [k.pooled() for k in smoke] == list(R.SMOKE_RUNS) and smoke[S("SGD", seed=0)].max_train_samples == 400
    with pytest.raises(ValueError, match="paper scale"):
        R.population("paper", "mnist1d")
    with pytest.raises(ValueError, match="MNIST-1D population only"):
        R.population("quick", "digits", seeds=(0, 1))
    with pytest.raises(ValueError, match="distinct"):
        R.population("quick", "mnist1d", seeds=(1, 1))
    from samlab.experiments import sharpness_robustness as sr

    assert sr.population("quick", "mnist1d") == pop
