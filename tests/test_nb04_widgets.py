"""Notebook 04's pieces headless: the stored-run explorer callbacks, the tables and the figures."""
from __future__ import annotations

import math

import pytest

import samlab as sl
from samlab.runs import RunStore
from samlab.train import TrainConfig, train


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Finished 1-epoch runs on the digits: SGD (two seeds), SAM, SAMSON_2 at two rhos, SAMSON_inf, ESAM and
    three ESAM variants that differ only in beta/gamma (what the old explorer showed as "seeds")."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    base = dict(model="small_cnn", dataset="digits", epochs=1, batch_size=32, max_train_samples=64,
                max_test_samples=32, schedule="cosine", augment=False)
    configs = {"SGD": TrainConfig(method="sgd", **base), "SGD seed 1": TrainConfig(method="sgd", seed=1, **base),
               "SAM": TrainConfig(method="sam", **base),
               "SAMSON_2": TrainConfig(method="samson", p=2.0, **base),
               "SAMSON_2 rho 1": TrainConfig(method="samson", p=2.0, rho=1.0, **base),
               "SAMSON_inf": TrainConfig(method="samson", p=math.inf, **base),
               "ESAM": TrainConfig(method="esam", **base),
               "ESAM-SWP": TrainConfig(method="esam", beta=0.3, gamma=1.0, **base),
               "ESAM-SDS": TrainConfig(method="esam", beta=1.0, gamma=0.3, **base),
               "ESAM 0.6/0.6": TrainConfig(method="esam", beta=0.6, gamma=0.6, **base)}
    return {k: train(c, store=store, progress=False) for k, c in configs.items()}


def text_of(out):
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in out.outputs)


def labels(dropdown):
    return [label for label, _ in dropdown.options]


def test_explorer_offers_only_stored_runs_and_redraws_once_per_change(stored, monkeypatch):
    from samlab import train as T

    monkeypatch.setattr(T, "train", lambda *a, **k: pytest.fail("the explorer must not train"))
    ui, out = sl.widgets.stored_run_explorer(list(stored.values()), title="test")
    method, setting, seed = (ui.controls[k] for k in ("method", "setting", "seed"))
    assert text_of(out).startswith("SGD, seed 0: test") and any("image/png" in o.get("data", {}) for o in out.outputs)
    assert "2 seeds stored for this setting (0, 1)" in text_of(out) and labels(seed) == ["0", "1"]
    assert labels(method) == ["SGD", "SAM", "SAMSON", "ESAM"]
    seed.value = 1
    assert text_of(out).startswith("SGD, seed 1: test") and ui.redraws == 2
    method.value = "samson"               # setting and seed follow: one redraw, no error on the way
    assert ui.redraws == 3 and text_of(out).startswith("SAMSON_2 · ρ=0.5, seed 0")
    before = ui.timing["last_redraw_ms"]
    assert labels(setting) == ["SAMSON_2 · ρ=0.5", "SAMSON_2 · ρ=1", "SAMSON_inf · ρ=0.5"]
    assert labels(seed) == ["0"] and seed.disabled
    setting.value = dict(setting.options)["SAMSON_inf · ρ=0.5"]
    assert text_of(out).startswith("SAMSON_inf · ρ=0.5, seed 0") and ui.redraws == 4
    method.value = "esam"                 # from SAMSON_inf straight to a stored ESAM run: one redraw
    assert ui.redraws == 5 and text_of(out).startswith("ESAM")
    assert "Cannot draw" not in text_of(out)
    esam = labels(setting)
    assert len(esam) == 4 and len(set(esam)) == 4          # every beta/gamma variant is reachable, none a "seed"
    assert any("γ=0.6" in lab for lab in esam) and "1 seed stored for this setting (0)" in text_of(out)
    setting.value = next(i for lab, i in setting.options if "γ=0.6" in lab)
    assert "β=0.6, γ=0.6" in text_of(out) and ui.redraws == 6
    with ui.hold():                       # a setting and a seed chosen by hand: still one redraw
        method.value = "base"
        seed.value = 1
    assert ui.redraws == 7 and text_of(out).startswith("SGD, seed 1")
    with pytest.raises(Exception, match="Invalid selection"):
        setting.value = dict(ui.controls["setting"].options)["SGD"] + 1   # no SAM setting offered under SGD
    assert text_of(out).startswith("SGD, seed 1") and ui.redraws == 7
    method.value = "samson"               # seen before: the rendered figure is reused
    assert text_of(out).startswith("SAMSON_2 · ρ=0.5, seed 0") and ui.timing["last_redraw_ms"] < before


def test_explorer_refuses_an_empty_store():
    with pytest.raises(ValueError, match="no finished training run"):
        sl.widgets.stored_run_explorer([])


def test_tables_and_figures(stored, tmp_path, monkeypatch):
    results = {k: stored[k] for k in ("SGD", "SAM", "SAMSON_2", "SAMSON_inf", "ESAM")}
    table = sl.experiments.cifar.accuracy_table(results)
    assert list(table.index) == list(results)
    paper_cols = [c for c in table.columns if c.startswith("paper:")]
    assert len(paper_cols) == 2 and table.loc["SAMSON_2", paper_cols[0]] == "95.96 ± 0.34"
    assert table.loc["ESAM", paper_cols[0]] == "-" and table.loc["ESAM", paper_cols[1]] == "96.56 ± 0.08"
    gap = table["gap (train - test)"] - (table["train acc %"] - table["test acc %"])
    assert gap.abs().max() <= 0.011  # each column rounded to 0.01
    tp = sl.experiments.cifar.throughput_table(results)
    assert tp.loc["SAM", "% of SAM"] == 100.0 and tp.loc["ESAM", "paper % of SAM"] == pytest.approx(140.3, abs=0.05)
    with pytest.raises(ValueError, match="reference='ASAM'"):
        sl.experiments.cifar.throughput_table(results, reference="ASAM")
    study = sl.experiments.cifar.esam_study({"SWP": [stored["ESAM"]], "SDS": [stored["ESAM"]]}, sam=stored["SAM"])
    assert study["SWP"]["x"] == [0.6, 1.0] and study["SDS"]["x"] == [0.5, 1.0]
    assert study["SDS"]["acc"][-1] == stored["SAM"].summary["test_acc"]
    monkeypatch.setenv("SAMLAB_FIGURES", str(tmp_path))
    figs = {"curves": sl.plots.plot_learning_curves([sl.experiments.cifar.learning_curve(r) for r in results.values()]),
            "speed": sl.plots.plot_throughput(sl.experiments.cifar.throughput_rows(results), title="t"),
            "esam": sl.plots.plot_esam_study(study, references=sl.experiments.cifar.summary_points(results))}
    for name, fig in figs.items():
        sl.plots.save_figure(fig, name)
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_speed_comparison_is_the_geometric_mean_ratio_with_a_paired_interval():
    from scipy import stats
    cifar = sl.experiments.cifar
    # ratios to SAM per round 1.2, 0.9, 1.05: geometric mean (1.2 * 0.9 * 1.05) ** (1/3) = 1.134 ** (1/3)
    c = cifar.speed_comparison([120.0, 90.0, 84.0], [100.0, 100.0, 80.0])
    assert c.difference == pytest.approx(1.134 ** (1 / 3) - 1, rel=1e-12) and c.n == 3 and c.paired
    logs = [math.log(1.2), math.log(0.9), math.log(1.05)]
    m, sd = sum(logs) / 3, math.sqrt(sum((x - sum(logs) / 3) ** 2 for x in logs) / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert (c.low, c.high) == pytest.approx((math.exp(m - half) - 1, math.exp(m + half) - 1), rel=1e-9)
    assert c.verdict == "unresolved" and "rounds" in c.method
    # the load of a round cancels: every round 1.5 times SAM's speed, under loads that halve the speed
    steady = cifar.speed_comparison([150.0, 75.0, 150.0, 30.0], [100.0, 50.0, 100.0, 20.0])
    assert (steady.difference, steady.low, steady.high) == pytest.approx((0.5, 0.5, 0.5)) and steady.verdict == "supported"
    assert cifar.speed_comparison([100.0], [90.0]) is None                   # one round: no interval
    with pytest.raises(ValueError, match="matched"):
        cifar.speed_comparison([1.0, 2.0], [1.0, 2.0, 3.0])


def _speeds(results, factors):
    """Per-round images/s: SAM 100, 50, 100 (a loaded second round), the others SAM's times their factor."""
    from samlab.train.throughput import Speeds
    sam = [100.0, 50.0, 100.0]
    return Speeds({r.config: [f * v for f, v in zip(factors.get(k, (1.0, 1.0, 1.0)), sam)]
                   for k, r in results.items()})


def test_speed_summary_never_compares_sam_with_itself(stored):
    # issue 19: the reference's own line read "differs from SAM"
    results = {k: stored[k] for k in ("SGD", "SAM", "ESAM")}
    speeds = _speeds(results, {"SGD": (2.0, 2.1, 1.9), "ESAM": (1.3, 0.8, 1.05)})
    lines = sl.experiments.cifar.takeaway_numbers(results, {}, speeds=speeds)
    sam = next(line for line in lines if line.startswith("  SAM ") and "%" in line)
    assert "the reference" in sam and "differs" not in sam and "than SAM" not in sam
    sgd = next(line for line in lines if line.startswith("  SGD ") and "%" in line)
    assert "faster than SAM" in sgd and "3 rounds" in sgd
    esam = next(line for line in lines if line.startswith("  ESAM ") and "%" in line)
    assert "not resolved from SAM" in esam


def test_findings_of_notebook_04(stored):
    results = {k: stored[k] for k in ("SGD", "SAM", "ESAM")}
    rows = sl.experiments.cifar.findings(results, speeds=_speeds(results, {"ESAM": (1.4, 1.4, 1.4)}), scale="smoke")
    got = {f.key: f for f in rows}
    assert got["esam_speed"].verdict == "supported" and got["esam_speed"].estimate == pytest.approx(40.0)
    acc = got["esam_accuracy"]                                   # one seed: said, and unresolved
    assert acc.verdict == "unresolved" and "n = 1 seed" in acc.note and acc.seeds_needed is None
    assert acc.estimate == pytest.approx(100 * (stored["ESAM"].summary["test_acc"] - stored["SAM"].summary["test_acc"]))
    # several seeds of each: paired by seed (the SGD runs of seeds 0 and 1 stand in for two seeds of a method)
    two = {"ESAM": [stored["SGD"], stored["SGD seed 1"]], "SAM": [stored["SGD"], stored["SGD seed 1"]]}
    paired = {f.key: f for f in sl.experiments.cifar.findings(results, scale="smoke", seed_runs=two)}
    assert paired["esam_accuracy"].n == 2 and paired["esam_accuracy"].estimate == 0.0
    assert paired["esam_speed"].verdict == "unresolved" and "no per-round" in paired["esam_speed"].note


def test_takeaway_numbers_say_one_seed_gives_no_verdict(stored):
    results = {k: stored[k] for k in ("SGD", "SAM", "SAMSON_2", "SAMSON_inf", "ESAM")}
    study = sl.experiments.cifar.esam_study({"SWP": [stored["ESAM-SWP"]], "SDS": [stored["ESAM-SDS"]]},
                                           sam=stored["SAM"])
    lines = sl.experiments.cifar.takeaway_numbers(results, study)
    n = results["SGD"].summary["data"]["n_test"]
    sgd, sam = (100 * results[k].summary["test_acc"] for k in ("SGD", "SAM"))
    assert lines[0].startswith(f"test accuracy on {n} test images, 1 seed(s); one image = {100 / n:.2f} points")
    assert "no interval over seeds" in lines[0]
    assert lines[1] == f"  SGD         {sgd:6.2f}"
    assert lines[2] == f"  SAM         {sam:6.2f}   minus SGD {sam - sgd:+.2f} points"
    swp = 100 * stored["ESAM-SWP"].summary["test_acc"] - sam
    assert f"ESAM SWP test accuracy minus SAM's, per β: 0.3: {swp:+.2f} points" in lines[7]
    assert lines[9] == "speed, % of SAM's images/s (median over rounds):" and lines[-1].startswith("  ")
    assert "no per-round timings" in lines[10]
