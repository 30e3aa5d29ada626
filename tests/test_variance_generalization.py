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


def test_compare_methods_names_the_best_and_says_whether_seeds_separate_it():
    curves = {"adam": np.array([[0.10, 0.30], [0.12, 0.31]]), "sam": np.array([[0.20, 0.20], [0.21, 0.32]])}
    text = vs.compare_methods(curves, [1.0, 50.0], labels={"adam": "Adam", "sam": "SAM"})
    rows = text.splitlines()[1:]
    assert rows[0].split()[1] == "Adam" and rows[0].endswith("yes")
    assert rows[1].split()[1] == "SAM" and "overlap" in rows[1]
    one_seed = vs.compare_methods({k: v[:1] for k, v in curves.items()}, [1.0, 50.0])
    assert "one seed" in one_seed


def test_gaps_to_reference_by_hand():
    curves = {"adam": np.array([[0.10, 0.20], [0.12, 0.22]]), "sam": np.array([[0.05, 0.21], [0.06, 0.23]])}
    g = vs.gaps_to_reference(curves)["sam"]
    np.testing.assert_allclose(g["gap"], [0.055 - 0.11, 0.22 - 0.21])   # mean(sam) - mean(adam)
    np.testing.assert_allclose(g["spread"], [0.02, 0.02])               # the larger min-max range
    with pytest.raises(ValueError, match="reference"):
        vs.gaps_to_reference(curves, reference="sgd")


def test_describe_gaps_only_claims_differences_larger_than_the_seed_spread():
    curves = {0.5: {"adam": np.array([[0.10, 0.20], [0.12, 0.22]]), "sam": np.array([[0.05, 0.21], [0.06, 0.23]])},
              30.0: {"adam": np.array([[0.1, 0.2]]), "sam": np.array([[0.0, 0.0]])}}
    text = vs.describe_gaps(curves, (1.0, 30.0), labels={"sam": "SAM"}, bayes=(0.0, 0.2))
    sam = [ln for ln in text.splitlines() if ln.strip().startswith("SAM")]
    assert len(sam) == 1                                                 # nothing is larger than 30: no line
    assert "-2.25 points on average" in sam[0]                          # (-5.5 + 1.0) / 2
    assert "within the seed spread at 1 of 2 (clearly fewer errors at 1, more at 0)" in sam[0]
    assert "within 11.00 points of the Bayes error" in text             # Adam: |11 - 0| at sigma^2 = 1
    one_seed = vs.describe_gaps({0.5: curves[30.0]}, (1.0, 30.0))
    assert "one seed" in one_seed and "fewer errors by more" not in one_seed
