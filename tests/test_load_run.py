"""samlab.train.load_run: a stored run back with its final weights and the exact data split it saw."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from samlab import train as T
from samlab.runs import RunStore
from samlab.train import TrainConfig


def tiny(**kw) -> TrainConfig:
    base = dict(model="small_cnn", dataset="digits", epochs=2, batch_size=32, max_train_samples=96,
                max_test_samples=64, lr=0.05, schedule="cosine")
    base.update(kw)
    return TrainConfig(**base)


def test_loaded_run_reproduces_the_stored_test_accuracy_exactly(tmp_path):
    store = RunStore(tmp_path)
    cfg = tiny(method="sam")
    result = T.train(cfg, store=store, progress=False)
    state = torch.get_rng_state()
    run = T.load_run(cfg, store=store, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    assert not run.model.training and run.config == cfg and run.summary == result.summary
    loss, acc = run.evaluate("test")
    assert acc == result.summary["test_acc"] and loss == result.summary["test_loss"]  # exactly, not approximately
    assert run.evaluate("train") == (result.summary["train_eval_loss"], result.summary["train_eval_acc"])
    # the split: the subsets the run trained and tested on, and a calibration split disjoint from both
    x, y = run.split("train")
    assert len(y) == 96 and len(run.split("test")[1]) == 64 and x.dtype == torch.uint8
    assert (run.mean, run.std) == (run.data.mean, run.data.std)
    rows = lambda t: {img.numpy().tobytes() for img in t}  # noqa: E731
    calib = rows(run.data.calib_x)
    assert calib and not calib & rows(run.data.train_x) and not calib & rows(run.data.test_x)
    # from the RunResult too, and the weights are the stored ones
    again = T.load_run(result)
    for k, v in result.state_dict().items():
        assert torch.equal(again.model.state_dict()[k].cpu(), v)


def test_load_run_refuses_what_it_cannot_load(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(LookupError, match="not finished.*missing"):
        T.load_run(tiny(), store=store)
    store.begin(tiny())
    with pytest.raises(LookupError, match="partial"):
        T.load_run(tiny(), store=store)
    with pytest.raises(TypeError, match="TrainConfig or a RunResult"):
        T.load_run("resnet18")

    @dataclass(frozen=True)
    class Other:
        a: int = 1

    other = store.get_or_compute(Other(), lambda: {"x": 1}) and store.load(Other())
    with pytest.raises(TypeError, match="TrainConfig run"):
        T.load_run(other)


def test_measurements_are_recomputed_when_the_run_changes(tmp_path):
    """A measurement of a run: cached per run, recomputed for a retrained or changed run."""
    store = RunStore(tmp_path)

    @dataclass(frozen=True)
    class NoiseEval:
        sigma: float = 0.0

    def derive(cfg):
        run = T.load_run(cfg, store=store)
        return lambda: dict(zip(("loss", "acc"), run.evaluate("test")))

    cfg = tiny(epochs=1)
    T.train(cfg, store=store, progress=False)
    first = store.measure(cfg, NoiseEval(), derive(cfg))
    assert first["acc"] == store.load(cfg).summary["test_acc"]
    assert store.measure(cfg, NoiseEval(), lambda: pytest.fail("recomputed")) == first
    changed = tiny(epochs=1, seed=1)  # another source config: another run, its own derived result
    T.train(changed, store=store, progress=False)
    second = store.measure(changed, NoiseEval(), derive(changed))
    assert second["acc"] == store.load(changed).summary["test_acc"] and second != first
    T.train(cfg, store=store, progress=False, retrain=True)  # same config retrained: the old result is gone
    calls = []
    store.measure(cfg, NoiseEval(), lambda: calls.append(1) or {"acc": 0.0})
    assert calls == [1]


def test_retraining_a_run_serves_fresh_measurements_never_stale_ones(tmp_path, monkeypatch):
    """RETRAIN = True (sweep.train_local(retrain=True)) deletes the run with its measurements: the noise curve and
    the sharpness value are computed again from the new weights; "only if stored" is None until then."""
    from samlab import noise, sweep
    from samlab.noise import NoiseCurveSpec
    from samlab.sharpness import MSharpnessSpec
    from samlab.train.load import measure_run

    store = RunStore(tmp_path)
    cfg = tiny(epochs=1)
    specs = [NoiseCurveSpec(sigmas=(0.0, 0.2), draws=1, calib_samples=16), MSharpnessSpec(m=16, max_samples=32)]
    sweep.train_local([cfg], workers=1, retrain=False, store=store, progress=False)
    first = [measure_run(cfg, s, store=store, progress=False) for s in specs]
    assert [store.stored_measure(cfg, s) for s in specs] == first
    weights = store.load(cfg).state_dict()
    monkeypatch.setattr(T.loop, "_derived_seed", lambda seed, purpose: hash((seed, purpose, "again")) % 2 ** 31)
    sweep.train_local([cfg], workers=1, retrain=True, store=store, progress=False)
    assert not torch.equal(store.load(cfg).state_dict()["fc.weight"], weights["fc.weight"])  # new weights
    assert [store.stored_measure(cfg, s) for s in specs] == [None, None]
    calls = []
    monkeypatch.setattr(noise, "noise_curve", lambda *a, **k: calls.append("noise") or {"fresh": True})
    again = [measure_run(cfg, s, store=store, progress=False) for s in specs]
    assert calls == ["noise"] and again[0] == {"fresh": True}
    assert again[1]["m_sharpness"] != first[1]["m_sharpness"]  # computed on the new weights
