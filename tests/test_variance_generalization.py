"""samlab.variance_study: notebook 03's runs (canonical configs, pure training), their caching and comparison."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from samlab.experiments import variance_generalization as vs
from samlab.runs import RunStore, kind_of

_TINY = dict(epochs=2, batch_size=50, lr=1e-2, n_train=100, n_test=100, test_variances=(1.0, 30.0))


def test_toy_run_config_is_canonical():
    a = vs.toy_run_config("adam", 5, 0, rho=0.5, p=3.0, eta=0.01)
    b = vs.toy_run_config("adam", 5.0, 0, rho=1.0, p=2.0, eta=0.0)
    assert a == b and a.rho == 0.0
    assert vs.toy_run_config("sam", 5, rho=0.5, p=7.0, eta=0.3) == vs.toy_run_config("sam", 5, rho=0.5)
    assert vs.toy_run_config("samson", 5, p=math.inf, eta=0.01).eta == 0.0
    assert vs.toy_run_config("asam", 5, p=math.inf).p == 2.0
    with pytest.raises(ValueError, match="method"):
        vs.toy_run_config("adamw", 5)
    with pytest.raises(ValueError, match="rho"):
        vs.toy_run_config("sam", 5, rho=-0.5)


@pytest.mark.parametrize("method", ["adam", "sam", "asam", "samson"])
def test_train_toy_is_a_pure_function_of_its_config(method):
    cfg = vs.toy_run_config(method, 5.0, 0, rho=0.5, **_TINY)
    state = torch.random.get_rng_state()
    r1, r2 = vs.train_toy(cfg), vs.train_toy(cfg)
    assert torch.equal(state, torch.random.get_rng_state()), "training must not move the global RNG"
    assert r1 == r2
    assert len(r1["test_error"]) == 2 and all(0.0 <= e <= 1.0 for e in r1["test_error"])
    other = vs.train_toy(vs.toy_run_config(method, 5.0, 1, rho=0.5, **_TINY))
    assert other != r1


def test_train_toy_neither_reads_nor_moves_the_global_rng():
    cfg = vs.toy_run_config("sam", 5.0, 0, rho=0.5, **_TINY)
    torch.manual_seed(1)
    state = torch.random.get_rng_state()
    first = vs.train_toy(cfg)
    assert torch.equal(state, torch.random.get_rng_state())
    torch.manual_seed(2)                                          # another global state: the same run
    assert vs.train_toy(cfg) == first


def test_training_learns_the_task():
    cfg = vs.toy_run_config("sam", 1.0, 0, rho=0.05, epochs=20, batch_size=100, lr=1e-2, n_train=400,
                            n_test=400, test_variances=(1.0,))
    assert vs.train_toy(cfg)["test_error"][0] < 0.05


def test_variance_study_caches_in_memory_and_in_the_store(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    study = vs.VarianceStudy("smoke", store=store, **{k: v for k, v in _TINY.items() if k != "test_variances"},
                             test_variances=(1.0, 30.0))
    settings = dict(rho=0.5, p=2.0, train_variances=[1.0, 15.0])
    assert len(study.missing(**settings)) == 2 * 5   # adam, sam, asam, samson_2, samson_inf; one seed
    curves = study.curves(**settings, progress=False, verbose=False)
    assert set(curves) == {1.0, 15.0}
    assert set(curves[1.0]) == {"adam", "sam", "asam", "samson_2", "samson_inf"}
    assert curves[1.0]["sam"].shape == (1, 2)
    assert study.missing(**settings) == []
    # a new session loads from the store: training is never called
    monkeypatch.setattr(vs, "train_toy", lambda cfg: pytest.fail("should have been loaded"))
    again = vs.VarianceStudy("smoke", store=store, **{k: v for k, v in _TINY.items() if k != "test_variances"},
                             test_variances=(1.0, 30.0))
    assert again.missing(**settings) == []
    np.testing.assert_array_equal(again.curves(**settings, progress=False, verbose=False)[15.0]["asam"],
                                  curves[15.0]["asam"])
    # changing rho needs the four sharpness-aware runs, not Adam's
    assert {c.method for c in again.missing(rho=0.25, p=2.0, train_variances=[1.0])} == {"sam", "asam", "samson"}


def test_variance_study_retrain_recomputes(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    kw = dict(store=store, seeds=(0,), **{k: v for k, v in _TINY.items() if k != "test_variances"},
              test_variances=(1.0,))
    vs.VarianceStudy("smoke", **kw).curves(rho=0.5, p=math.inf, train_variances=[1.0], progress=False,
                                           verbose=False)
    calls = []
    real = vs.train_toy
    monkeypatch.setattr(vs, "train_toy", lambda cfg: calls.append(cfg) or real(cfg))
    study = vs.VarianceStudy("smoke", retrain=True, **kw)
    assert len(study.missing(rho=0.5, p=math.inf, train_variances=[1.0])) == 4   # inf: SAMSON once
    study.curves(rho=0.5, p=math.inf, train_variances=[1.0], progress=False, verbose=False)
    study.curves(rho=0.5, p=math.inf, train_variances=[1.0], progress=False, verbose=False)
    assert len(calls) == 4, "retrain trains each run once per session, then uses memory"


_ADAM = np.array([[0.10, 0.30], [0.12, 0.31], [0.11, 0.29]])
# per seed, SAM - Adam: at sigma^2 = 1: -0.05, -0.06, -0.04 (mean -0.05, sd 0.01); at 50: +0.02, -0.03, +0.01
_SAM = _ADAM + np.array([[-0.05, 0.02], [-0.06, -0.03], [-0.04, 0.01]])
_HALF = 4.302653 * 0.01 / math.sqrt(3)          # t_{0.975, 2} * sd / sqrt(n), a fraction


def test_compare_methods_pairs_the_seeds_by_hand():
    text = vs.compare_methods({"adam": _ADAM, "sam": _SAM}, [1.0, 50.0], labels={"adam": "Adam", "sam": "SAM"})
    rows = text.splitlines()
    assert "paired by seed" in rows[0]
    assert f"-5.00 [{100 * (-0.05 - _HALF):+.2f}, {100 * (-0.05 + _HALF):+.2f}] fewer errors" in rows[2]
    assert "not resolved" in rows[3]                                    # mean 0, the interval straddles it
    one_seed = vs.compare_methods({k: v[:1] for k, v in {"adam": _ADAM, "sam": _SAM}.items()}, [1.0, 50.0])
    assert "one seed: no interval" in one_seed
    with pytest.raises(ValueError, match="reference"):
        vs.compare_methods({"sam": _SAM}, [1.0, 50.0])


def test_pairing_resolves_what_the_seed_spread_hides():
    # seeds differ by 10 points, SAM is 1 point better on every seed: paired, the difference is resolved
    adam = np.array([[0.10], [0.20], [0.30]])
    text = vs.describe_gaps({0.5: {"adam": adam, "sam": adam - 0.01}}, (1.0,))
    assert "-1.00 points [-1.00, -1.00], n = 3 seeds: fewer errors" in text


def test_describe_gaps_averages_past_the_training_variance_and_pairs_by_seed():
    curves = {0.5: {"adam": _ADAM, "sam": _SAM}, 30.0: {"adam": _ADAM, "sam": _SAM}}
    text = vs.describe_gaps(curves, (1.0, 30.0), labels={"sam": "SAM"}, bayes=(0.0, 0.2))
    sam = [ln for ln in text.splitlines() if ln.strip().startswith("SAM")]
    assert len(sam) == 1                                                 # nothing is larger than 30: no line
    # per seed, the mean over both test variances: -0.015, -0.045, -0.015 -> mean -0.025, sd 0.01732
    half = 4.302653 * math.sqrt(3e-4) / math.sqrt(3)
    assert f"-2.50 points [{100 * (-0.025 - half):+.2f}, {100 * (-0.025 + half):+.2f}], n = 3 seeds" in sam[0]
    assert "within 11.00 points of the Bayes error" in text             # Adam: |11 - 0| at sigma^2 = 1
    one_seed = vs.describe_gaps({0.5: {k: v[:1] for k, v in curves[0.5].items()}}, (1.0, 30.0))
    assert "one seed" in one_seed and "fewer errors" not in one_seed


def test_findings_test_the_report_claim_per_training_variance():
    curves = {0.5: {"adam": _ADAM, "sam": _SAM, "asam": _ADAM + 0.02},
              20.0: {"adam": _ADAM[:1], "sam": _SAM[:1], "asam": _ADAM[:1]}}
    rows = vs.findings(curves, (1.0, 30.0), scale="smoke")
    by = {(f.subject.split(":")[0], f.subject.split(": ")[1].split(" -")[0]): f for f in rows}
    assert len(rows) == 4 and all(f.key == "variance_sam_asam_adam" for f in rows)
    assert by["trained on sigma^2 = 0.5", "asam"].verdict == "contradicted"   # 2 more points on every seed
    assert by["trained on sigma^2 = 0.5", "asam"].estimate == pytest.approx(2.0)
    assert by["trained on sigma^2 = 20", "sam"].verdict == "unresolved" and "1 seed" in by["trained on sigma^2 = 20", "sam"].note
