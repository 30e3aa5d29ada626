"""MNIST-1D: the loader (generation, cache, calibration split), the paper's models, train() on it, presets, study."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from samlab.data import MNIST1D_LENGTH, SignalData, generate_mnist1d, iterate_signal_batches, load_mnist1d
from samlab.data import mnist1d as mnist1d_module
from samlab.models import MNIST1D_MODELS, create_model


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """One generated data set per test module (about 3 s), in a temp SAMLAB_DATA."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def data(data_root, monkeypatch) -> SignalData:
    monkeypatch.setenv("SAMLAB_DATA", str(data_root))
    return load_mnist1d(seed=0)


@pytest.fixture(scope="module")
def raw():
    return generate_mnist1d()


# ------------------------------------------------------------------------------------------------ loader
def test_generator_gives_the_published_sizes_and_balance(raw):
    assert raw["x"].shape == (4000, MNIST1D_LENGTH) and raw["x_test"].shape == (1000, MNIST1D_LENGTH)
    assert raw["x"].dtype == np.float32 and raw["y"].dtype == np.int64
    counts = np.bincount(np.concatenate([raw["y"], raw["y_test"]]), minlength=10)
    assert counts.tolist() == [500] * 10  # 5000 // 10 per class before the 80/20 cut
    assert abs(raw["x"].mean()) < 0.05 and abs(raw["x"].std() - 1) < 0.05  # the package standardises the set


def test_generation_is_deterministic_and_leaves_global_rngs_alone(raw):
    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    again = generate_mnist1d()
    assert np.array_equal(np.random.get_state()[1], np_before) and random.getstate() == py_before
    for key in ("x", "y", "x_test", "y_test"):
        assert np.array_equal(raw[key], again[key]), key


def test_loader_shapes_and_calibration_split(data, raw):
    assert data.name == "mnist1d" and data.num_classes == 10 and not data.is_fallback
    assert data.train_x.shape == (3600, 1, 40) and data.calib_x.shape == (400, 1, 40)
    assert data.test_x.shape == (1000, 1, 40) and data.train_x.dtype == torch.float32
    assert data.train_y.dtype == torch.int64 and set(data.train_y.unique().tolist()) == set(range(10))
    # train + calibration is exactly the generator's training set; test is the generator's test set
    both = torch.cat([data.train_x, data.calib_x]).squeeze(1).numpy()
    assert np.array_equal(np.sort(both, axis=0), np.sort(raw["x"], axis=0))
    assert np.array_equal(data.test_x.squeeze(1).numpy(), raw["x_test"])
    # no calibration signal is a test signal (nor a training one)
    test_rows = {r.tobytes() for r in data.test_x.squeeze(1).numpy()}
    calib_rows = {r.tobytes() for r in data.calib_x.squeeze(1).numpy()}
    train_rows = {r.tobytes() for r in data.train_x.squeeze(1).numpy()}
    assert len(calib_rows) == 400 and not calib_rows & test_rows and not calib_rows & train_rows


def test_calibration_seed_moves_the_split_not_the_test_set(data, data_root, monkeypatch):
    monkeypatch.setenv("SAMLAB_DATA", str(data_root))
    other = load_mnist1d(seed=1, calibration_size=100)
    assert len(other.calib_y) == 100 and len(other.train_y) == 3900
    assert torch.equal(other.test_x, data.test_x)
    assert not torch.equal(other.calib_x, data.calib_x[:100])
    with pytest.raises(ValueError, match="calibration_size"):
        load_mnist1d(calibration_size=4000)


def test_cache_round_trip_reads_the_file(tmp_path, monkeypatch, raw, capsys):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path))
    first = load_mnist1d()
    path = tmp_path / "mnist1d" / "mnist1d_default.npz"
    assert path.is_file() and "generated" in capsys.readouterr().out
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the atomic write left no temp file

    def no_generation():
        raise AssertionError("the second load must read the cache")

    monkeypatch.setattr(mnist1d_module, "generate_mnist1d", no_generation)
    second = load_mnist1d()
    assert "read" in capsys.readouterr().out
    for split in ("train", "calib", "test"):
        assert all(torch.equal(a, b) for a, b in zip(first.split(split), second.split(split)))


def test_cache_from_other_generator_args_is_regenerated(tmp_path, monkeypatch, raw):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path))
    args = {**mnist1d_module.mnist1d_args(), "seed": 7}
    fake = {k: np.zeros_like(v) for k, v in raw.items()}
    mnist1d_module._write_cache(tmp_path / "mnist1d" / "mnist1d_default.npz", fake, args)
    calls = []
    monkeypatch.setattr(mnist1d_module, "generate_mnist1d", lambda: calls.append(1) or raw)
    data = load_mnist1d()
    assert calls == [1] and torch.equal(data.test_x.squeeze(1), torch.from_numpy(raw["x_test"]))


def test_signal_batches(data):
    x, y = data.split("train")
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = list(iterate_signal_batches(x, y, 512, train=True, mean=(0.0,), std=(1.0,), generator=gen()))
    b = list(iterate_signal_batches(x, y, 512, train=True, mean=(0.0,), std=(1.0,), generator=gen()))
    assert len(a) == 3600 // 512 and a[0][0].shape == (512, 1, 40)
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not torch.equal(a[0][1], y[:512])  # shuffled
    ev = list(iterate_signal_batches(x, y, 512, train=False, mean=(1.0,), std=(2.0,)))
    assert sum(len(t) for _, t in ev) == 3600 and torch.allclose(ev[0][0], (x[:512] - 1) / 2)
    with pytest.raises(ValueError, match="float signals"):
        iterate_signal_batches(x.to(torch.uint8), y, 8, train=False, mean=(0.0,), std=(1.0,))
    with pytest.raises(ValueError, match="generator"):
        iterate_signal_batches(x, y, 8, train=True, mean=(0.0,), std=(1.0,))


# ------------------------------------------------------------------------------------------------ models
# The authors' definitions (greydanus/mnist1d, notebooks/models.py: MLPBase hidden 100, ConvBase channels 25,
# GRUBase hidden 6 bidirectional) have these many parameters (their count_params); the BN variant is ours.
@pytest.mark.parametrize("name, n_params", [("mnist1d_mlp", 15_210), ("mnist1d_cnn", 5_210),
                                            ("mnist1d_gru", 5_134), ("mnist1d_cnn_bn", 5_285)])
def test_models_forward_and_size(name, n_params):
    model = create_model(name, num_classes=10).eval()
    assert sum(p.numel() for p in model.parameters()) == n_params
    with torch.no_grad():
        out = model(torch.randn(3, 1, 40))
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        assert torch.equal(model(torch.ones(2, 40)), model(torch.ones(2, 1, 40)))
    assert create_model(name, num_classes=4)(torch.randn(2, 1, 40)).shape == (2, 4)


def test_cnn_bn_has_batchnorm_and_the_paper_cnn_has_none():
    kinds = lambda m: {type(x).__name__ for x in m.modules()}  # noqa: E731
    assert "BatchNorm1d" in kinds(create_model("mnist1d_cnn_bn"))
    assert "BatchNorm1d" not in kinds(create_model("mnist1d_cnn"))


def test_mlp_has_the_residual_second_layer():
    model = create_model("mnist1d_mlp")
    with torch.no_grad():
        model.linear2.weight.zero_()
        model.linear2.bias.zero_()
        x = torch.randn(4, 1, 40)
        assert torch.allclose(model(x), model.linear3(model.linear1(x.flatten(1)).relu()))


# ------------------------------------------------------------------------------------------------ training
def test_config_pairs_mnist1d_models_with_mnist1d_only():
    from samlab.train import TrainConfig

    TrainConfig(model="mnist1d_cnn", dataset="mnist1d")
    with pytest.raises(ValueError, match="does not take"):
        TrainConfig(model="mnist1d_cnn", dataset="digits")
    with pytest.raises(ValueError, match="does not take"):
        TrainConfig(model="small_cnn", dataset="mnist1d")


@pytest.mark.parametrize("method, extra", [("sgd", {}), ("samson", {"p": math.inf})])
def test_train_on_mnist1d_at_smoke_scale(data_root, monkeypatch, method, extra):
    from samlab.train import TrainConfig, train

    monkeypatch.setenv("SAMLAB_DATA", str(data_root))
    cfg = TrainConfig(model="mnist1d_cnn_bn", dataset="mnist1d", method=method, epochs=3, batch_size=50, lr=0.05,
                      schedule="constant", augment=False, max_train_samples=400, max_test_samples=200, **extra)
    result = train(cfg, progress=False)
    s = result.summary
    assert result.finished and s["data"] == {"name": "mnist1d", "is_fallback": False, "n_train": 400,
                                             "n_test": 200, "num_classes": 10}
    assert s["params"] == 5_285 and 0 <= s["test_acc"] <= 1
    losses = result.column("train_loss")
    assert len(losses) == 3 and losses[-1] < losses[0] < 2.6  # it learns (chance is ln 10 = 2.30)
    assert s["train_eval_acc"] > 0.3  # well above chance (0.1) after 3 epochs on 400 signals
    assert train(cfg, progress=False).summary == s  # the second call loads the stored run


# ------------------------------------------------------------------------------------------------ papers
def test_presets_validate_and_paper_rows_cite_the_paper():
    from samlab.papers import MNIST1D_PROTOCOL, paper_results, preset, preset_names

    names = [n for n in preset_names() if n.startswith("mnist1d-")]
    assert {"mnist1d-authors-mnist1d_cnn", "mnist1d-mnist1d_mlp", "mnist1d-mnist1d_cnn_bn-samsoninf"} <= set(names)
    for name in names:
        for cfg in preset(name):
            assert cfg.dataset == "mnist1d" and cfg.model in MNIST1D_MODELS and not cfg.augment
    authors = preset("mnist1d-authors-mnist1d_cnn")[0]
    assert (authors.base, authors.lr, authors.batch_size, authors.epochs) == ("adam", 1e-2, 100, 200)
    group = preset("mnist1d-mnist1d_mlp")
    assert [c.label for c in group] == ["SGD", "Adam", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf"]
    assert MNIST1D_PROTOCOL["sgd"]["base"] == "sgd"
    rows = {r.model: r for r in paper_results(dataset="mnist1d")}
    assert {m: rows[m].acc for m in ("mnist1d_mlp", "mnist1d_cnn", "mnist1d_gru")} == {
        "mnist1d_mlp": 68.0, "mnist1d_cnn": 94.0, "mnist1d_gru": 91.0}
    assert all("MNIST-1D" in r.source and "ICML 2024" in r.source for r in rows.values())


# ------------------------------------------------------------------------------------------------ study
def test_study_configs_cover_every_method_rho_and_seed():
    from samlab.experiments import mnist1d as study

    quick = study.study_configs("quick")
    assert len(quick) == len(set(quick))
    labels = {c.label for c in quick}
    assert labels == set(study.METHOD_ORDER)
    for model, _, grid in study.study_scale("quick").models:
        runs = [c for c in quick if c.model == model]
        assert {c.seed for c in runs} == set(range(5))
        for name, rhos in grid.items():
            assert {c.rho for c in runs if c.label == name} == set(rhos)
    assert any(len(rhos) >= 3 for _, _, grid in study.study_scale("quick").models for rhos in grid.values())
    assert len(study.study_configs("smoke")) == 12


def test_mean_ci_is_the_t_interval():
    from samlab.experiments.mnist1d import mean_ci

    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)  # t_{0.975, 2} * s / sqrt(n)
    assert math.isnan(mean_ci([5.0])[1])


def _entry(model, method, rho, test, ci, calib, train=99.0):
    return {"model": model, "method": method, "rho": rho, "n": 5, "test_acc": test, "test_acc_ci": ci,
            "train_acc": train, "train_acc_ci": 0.5, "gap": train - test, "gap_ci": ci, "calib_acc": calib,
            "calib_acc_ci": 1.0, "train_time_s": 1.0}


def _rows(model, method, rho, tests, calib, train=99.0):
    """One run row per seed (seed = position), as :func:`run_rows` writes them."""
    return [{"model": model, "method": method, "rho": rho, "seed": s, "test_acc": t, "train_acc": train,
             "gap": train - t, "calib_acc": calib, "train_time_s": 1.0} for s, t in enumerate(tests)]


def test_rho_is_chosen_on_calibration_and_takeaways_rest_on_the_paired_interval():
    from samlab.experiments.mnist1d import select_rho, summarize, takeaways

    rows = (_rows("m", "SGD", 0.0, [59.0, 60.0, 61.0], 60.0) + _rows("m", "Adam", 0.0, [58.0, 59.0, 60.0], 59.0)
            + _rows("m", "SAM", 0.05, [70.0, 71.0, 72.0], 55.0)   # best on test, worst on calibration: not chosen
            + _rows("m", "SAM", 0.1, [63.0, 64.5, 64.5], 65.0)    # chosen: per-seed +4, +4.5, +3.5 over SGD
            + _rows("m", "ASAM", 0.5, [62.0, 59.0, 60.5], 61.0))  # per-seed +3, -1, -0.5: straddles 0
    summary = summarize(rows)
    chosen = {e["method"]: e["rho"] for e in select_rho(summary)}
    assert chosen == {"SGD": 0.0, "Adam": 0.0, "SAM": 0.1, "ASAM": 0.5}
    assert {e["method"]: e["n_rho"] for e in select_rho(summary)}["SAM"] == 2
    text = "\n".join(takeaways(summary, rows))
    # by hand: mean 4, sd 0.5, t_{0.975,2} = 4.3027 -> half-width 4.3027 * 0.5 / sqrt(3) = 1.242
    assert "SAM (rho 0.1, chosen on calibration among 2)" in text
    assert "above SGD (+4.0 points, 95 % interval +2.8 to +5.2)" in text
    assert "ASAM (rho 0.5, the only rho run)" in text and "not resolved from SGD (+0.5 points" in text
    assert "MNIST-1D" in text


def test_study_figures_name_the_data_set():
    from samlab.experiments.mnist1d import select_rho
    from samlab.plots import plot_method_comparison, plot_rho_sweep

    summary = [_entry("m", "SGD", 0.0, 60.0, 1.0, 60.0), _entry("m", "SAM", 0.05, 62.0, 1.0, 61.0),
               _entry("m", "SAM", 0.1, 63.0, float("nan"), 62.0)]
    fig = plot_rho_sweep(summary, "m")
    assert "MNIST-1D" in fig.texts[0].get_text() and "CIFAR" not in fig.texts[0].get_text()
    fig = plot_method_comparison(select_rho(summary))
    assert "MNIST-1D" in fig.texts[0].get_text()
    with pytest.raises(ValueError, match="no runs"):
        plot_rho_sweep(summary, "other")


def test_rho_sweep_zooms_past_a_collapsed_run_and_marks_it():
    from samlab.plots import plot_rho_sweep

    summary = [_entry("m", "SGD", 0.0, 90.8, 1.8, 90.0), _entry("m", "Adam", 0.0, 85.6, 1.9, 85.0),
               _entry("m", "SAM", 0.05, 90.5, 1.6, 90.0), _entry("m", "ASAM", 0.2, 90.1, 1.5, 90.0),
               _entry("m", "SAMSON_inf", 0.2, 90.7, 0.4, 90.0),
               _entry("m", "SAMSON_inf", 0.5, 42.0, 42.0, 40.0)]    # failed to train in some seeds
    ax = plot_rho_sweep(summary, "m").axes[0]
    lo, hi = ax.get_ylim()
    assert 80.0 < lo < 85.6 - 1.9 and 90.8 + 1.8 < hi < 95.0      # the populated range, not 0-95
    marks = [t.get_text() for t in ax.texts]
    assert any("off scale" in t and "42" in t and "0.5" in t for t in marks)
    healthy = plot_rho_sweep(summary[:-1], "m").axes[0]              # nothing collapsed: nothing marked
    assert not any("off scale" in t.get_text() for t in healthy.texts)
    assert healthy.get_ylim()[0] < 85.6 - 1.9


def test_pairing_by_seed_cancels_the_seed_spread():
    from samlab import evidence
    from samlab.experiments.mnist1d import compare, paired_rows, summarize, takeaways

    rows = _rows("m", "SGD", 0.0, [50.0, 60.0, 70.0], 60.0) + _rows("m", "SAM", 0.1, [51.0, 61.0, 71.0], 61.0)
    rows += [{**_rows("m", "SAM", 0.2, [99.0], 10.0)[0]}]   # another rho (worse on calibration): left out
    a, b = paired_rows(rows, "m", ("SAM", 0.1), ("SGD", 0.0))
    assert a.tolist() == [51.0, 61.0, 71.0] and b.tolist() == [50.0, 60.0, 70.0]
    summary = summarize(rows)
    c = compare(rows, summary, "m", "SAM", "SGD")
    assert (c.difference, c.low, c.high, c.verdict) == (1.0, 1.0, 1.0, "supported")  # +1 on every seed
    assert evidence.unpaired_difference(a, b).verdict == "unresolved"   # side by side, the seed spread hides it
    assert "above SGD (+1.0 points, 95 % interval +1.0 to +1.0)" in "\n".join(takeaways(summary, rows))
    assert compare(rows, summary, "m", "SAM", "Adam") is None           # no Adam runs


def test_findings_test_each_claim_per_network_with_holm():
    from samlab.experiments.mnist1d import CLAIM_TESTS, findings, summarize

    seeds = 5
    base = [60.0, 62.0, 58.0, 61.0, 59.0]
    shift = {"SGD": 0.0, "Adam": -3.0, "SAM": 2.0, "ASAM": 2.0, "SAMSON_2": 2.0, "SAMSON_inf": -2.0}
    wobble = [0.1, -0.1, 0.05, -0.05, 0.0]
    rows = []
    for m, d in shift.items():
        rows += _rows("m", m, 0.0 if m in ("SGD", "Adam") else 0.5,
                      [b + d + (w if m != "SGD" else 0.0) for b, w in zip(base, wobble)], 60.0 + d)
    rows = [r for r in rows if r["seed"] < seeds]
    out = findings(summarize(rows), rows, "smoke")
    assert len(out) == len(CLAIM_TESTS)
    got = {f.subject.split(": ")[1]: f.verdict for f in out}
    assert got["SAM (rho 0.5) - SGD"] == "supported" and got["SAM (rho 0.5) - Adam"] == "supported"
    assert got["ASAM (rho 0.5) - SAM"] == "unresolved"                 # same shift: the difference is 0 +- noise
    assert got["SAMSON_inf (rho 0.5) - SGD"] == "contradicted"
    assert all(f.p_adjusted >= f.p_value for f in out)                 # Holm over the notebook's tests
    assert all(f.units == "points" and f.n == seeds for f in out)


def test_takeaways_warn_when_the_baseline_has_not_fitted():
    from samlab.experiments.mnist1d import summarize, takeaways

    fitted = _rows("m", "SGD", 0.0, [60.0, 61.0], 60.0, train=99.0)
    unfitted = _rows("m", "SGD", 0.0, [60.0, 60.0], 60.0, train=90.0)
    assert not any("Caveat" in line for line in takeaways(summarize(fitted), fitted))
    assert any("Caveat" in line and "90.0%" in line for line in takeaways(summarize(unfitted), unfitted))
