"""samlab.analog: PCM inference with aihwkit (SAMSON sec. 7), on a small CNN trained on the offline digits."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import samlab.analog as A
from samlab.data.images import load_image_dataset
from samlab.models import create_model
from samlab.runs import RunStore

pytest.importorskip("aihwkit")

from aihwkit.inference.noise.pcm import PCMLikeNoiseModel  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return load_image_dataset("digits")


@pytest.fixture(scope="module")
def trained(data):
    """small_cnn (width 8) after 5 epochs of Adam on digits: 90% test accuracy, non-trivial BN statistics."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model("small_cnn", width=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(5):
        for x, y in data.batches("train", 32, train=True, generator=gen, augment=False):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model.eval()


def batch(data, n=64):
    from samlab.data import iterate_batches
    return next(iter(iterate_batches(data.test_x[:n], data.test_y[:n], n, train=False, mean=data.mean,
                                     std=data.std)))[0]


def spec(**kw):
    kw = {"times": (1.0, A.YEAR), "repeats": 2, "test_samples": 120, **kw}
    return A.PCMCurveSpec(**kw)


# ------------------------------------------------------------------------------------------ conversion
@pytest.mark.parametrize("tile, cls", [("torch", "TorchInferenceTile"), ("compiled", "InferenceTile")])
def test_each_tile_kind_builds_and_runs_one_tile_per_layer(tile, cls):
    A.check_backend(tile)
    model = nn.Sequential(nn.Linear(600, 700), nn.ReLU(), nn.Linear(700, 3))  # > 512: aihwkit would split
    analog = A.to_analog(model, A.pcm_rpu_config(tile=tile))
    layers = list(analog.named_analog_layers())
    assert [n for n, _ in layers] == ["0", "2"]
    for (_, layer), lin in zip(layers, (model[0], model[2])):
        (t,) = layer.analog_tiles()
        assert type(t).__name__ == cls
        w, _ = t.get_weights()
        assert w.shape == lin.weight.shape
    analog.program_analog_weights()
    analog.drift_analog_weights(A.YEAR)
    with torch.no_grad():
        assert torch.isfinite(analog(torch.randn(2, 600))).all()


def test_settings_ideal_converters_and_pcm(trained):
    c = A.pcm_rpu_config()
    assert c.forward.is_perfect and c.mapping.max_input_size == 0 and c.mapping.max_output_size == 0
    assert type(c.noise_model).__name__ == "PCMLikeNoiseModel"
    assert type(c.drift_compensation).__name__ == "GlobalDriftCompensation"
    assert not A.pcm_rpu_config(ideal_io=False).forward.is_perfect


@pytest.mark.parametrize("tile", A.TILES)
def test_noise_free_analog_equals_digital(trained, data, tile):
    quiet = PCMLikeNoiseModel(prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)
    analog = A.to_analog(trained, A.pcm_rpu_config(tile=tile, noise_model=quiet))
    analog.program_analog_weights()
    analog.drift_analog_weights(0.0)
    x = batch(data)
    with torch.no_grad():
        torch.testing.assert_close(analog(x), trained(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tile", A.TILES)
def test_exported_weights_reproduce_the_analog_logits(trained, data, tile):
    import copy

    analog = A.to_analog(trained, A.pcm_rpu_config(tile=tile))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        analog.program_analog_weights()
        analog.drift_analog_weights(A.YEAR)
    digital = A.export_weights(analog, copy.deepcopy(trained))
    x = batch(data)
    with torch.no_grad():
        ya, yd, y0 = analog(x), digital(x), trained(x)
    assert (ya - yd).abs().max() <= 1e-4 * ya.abs().max()
    assert (ya - y0).abs().max() >= 1e-2 * y0.abs().max()  # the noise is really there
    with pytest.raises(ValueError, match="non-ideal"):
        A.export_weights(A.to_analog(trained, A.pcm_rpu_config(ideal_io=False)), copy.deepcopy(trained))


def test_drift_moves_the_weights_further_with_time(trained):
    """Compensated weight error grows with t (averaged over 4 programmings); raw conductances decay."""
    import copy

    analog = A.to_analog(trained, A.pcm_rpu_config())
    clean = [w.detach().clone() for w in A.conv_linear_weights(trained)]
    times = (1.0, 1e4, 10 * A.YEAR)
    err, raw = torch.zeros(len(times)), torch.zeros(len(times))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for _ in range(4):
            analog.program_analog_weights()
            for j, t in enumerate(times):
                analog.drift_analog_weights(t)
                digital = A.export_weights(analog, copy.deepcopy(trained))
                ws = A.conv_linear_weights(digital)
                err[j] += sum(((w - c).norm() / c.norm()).item() for w, c in zip(ws, clean))
                raw[j] += sum(t_.get_weights()[0].norm().item() for t_ in analog.analog_tiles())
    assert err[0] < err[1] < err[2]
    assert raw[0] > raw[1] > raw[2]


# ------------------------------------------------------------------------------------------ the curve
def test_pcm_curve_shape_seeds_and_global_rng(trained, data):
    before = torch.get_rng_state()
    r = A.pcm_curve(trained, data, spec(), progress=False)
    assert torch.equal(torch.get_rng_state(), before)
    assert r["times"] == [1.0, A.YEAR] and len(r["accs"]) == 2 and len(r["accs"][0]) == 2
    assert r["digital_acc"] > 0.8 and min(r["mean_acc"]) > 0.5
    s = r["settings"]
    assert s["path"] == "exported digital weights" and s["ideal_io"] and s["tile"] == "torch" and s["adabs"]
    assert r == A.pcm_curve(trained, data, spec(), progress=False)                # same seed: identical
    other = A.pcm_curve(trained, data, spec(seed=1), progress=False)
    assert other["losses"] != r["losses"]                                          # another seed differs
    assert r["losses"][0] != r["losses"][1]                                        # repeats differ
    # a point of the curve does not depend on the rest of the grid
    alone = A.pcm_curve(trained, data, spec(times=(A.YEAR,)), progress=False)
    assert [row[0] for row in alone["losses"]] == [row[1] for row in r["losses"]]


def test_torch_and_compiled_tiles_draw_the_same_noise(trained, data):
    cfg = {"repeats": 1, "times": (A.YEAR,), "adabs": False}
    torch_tile = A.pcm_curve(trained, data, spec(**cfg), progress=False)
    compiled = A.pcm_curve(trained, data, spec(tile="compiled", **cfg), progress=False)
    assert compiled["settings"]["rpu_config"] == "InferenceRPUConfig" and compiled["settings"]["reproducible"]
    torch.testing.assert_close(torch.tensor(compiled["losses"]), torch.tensor(torch_tile["losses"]))


def test_exported_path_matches_analog_path(trained, data):
    fast = A.pcm_curve(trained, data, spec(repeats=1, adabs=False), progress=False)
    slow = A.pcm_curve(trained, data, spec(repeats=1, adabs=False), progress=False, export=False)
    assert slow["settings"]["path"] == "analog forward"
    torch.testing.assert_close(torch.tensor(fast["losses"]), torch.tensor(slow["losses"]), rtol=1e-5, atol=1e-6)
    assert fast["accs"] == slow["accs"]
    # With AdaBS the paths differ by ~3e-4 relative: aihwkit's conv output is strided (channels-last-like) and
    # torch's float32 CPU batch_norm in training mode is less exact on it (the exported path matches float64).
    fast = A.pcm_curve(trained, data, spec(repeats=1), progress=False)
    slow = A.pcm_curve(trained, data, spec(repeats=1), progress=False, export=False)
    torch.testing.assert_close(torch.tensor(fast["losses"]), torch.tensor(slow["losses"]), rtol=2e-3, atol=1e-4)
    assert max(abs(a - b) for a, b in zip(fast["mean_acc"], slow["mean_acc"])) <= 1 / 120 + 1e-9


def test_non_ideal_converters_use_the_analog_forward(trained, data):
    r = A.pcm_curve(trained, data, spec(ideal_io=False, repeats=1, times=(A.YEAR,), adabs=False),
                    progress=False)
    assert r["settings"]["path"] == "analog forward" and not r["settings"]["ideal_io"]
    assert "ADC" in r["settings"]["converters"] and r["settings"]["reproducible"]
    assert r == A.pcm_curve(trained, data, spec(ideal_io=False, repeats=1, times=(A.YEAR,), adabs=False),
                            progress=False)  # the torch tile's converter noise is seeded too


def test_the_pcm_curve_of_a_stored_run_lives_in_its_folder_and_is_fresh_after_retraining(tmp_path, monkeypatch):
    """The PCM curve of a run is stored under the run (not at the store's root): RETRAIN gives a fresh one."""
    from samlab.train import TrainConfig, train
    from samlab.train.load import measure_run

    store = RunStore(tmp_path)
    cfg = TrainConfig(model="small_cnn", dataset="digits", epochs=1, batch_size=32, max_train_samples=96,
                      max_test_samples=64)
    train(cfg, store=store, progress=False)
    pcm = spec(repeats=1, times=(A.YEAR,), test_samples=0, calib_samples=32)
    assert store.stored_measure(cfg, pcm) is None
    first = measure_run(cfg, pcm, store=store, progress=False)
    assert store.stored_measure(cfg, pcm) == first and [p.name for p in tmp_path.iterdir()] == [store.path(cfg).name]
    assert store.list_measures(cfg, "PCMCurveSpec")
    train(cfg, store=store, progress=False, retrain=True)                  # RETRAIN = True
    assert store.stored_measure(cfg, pcm) is None
    calls = []
    monkeypatch.setattr(A, "pcm_curve", lambda *a, **k: calls.append(1) or dict(first, fresh=True))
    assert measure_run(cfg, pcm, store=store, progress=False)["fresh"] and calls == [1]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kw, name", [({"times": (1.0, -1.0)}, "times"), ({"times": ()}, "times"),
                                      ({"repeats": 0}, "repeats"), ({"tile": "cuda"}, "tile"),
                                      ({"calib_samples": -1}, "calib_samples")])
def test_bad_spec_is_refused(kw, name):
    with pytest.raises(ValueError, match=name):
        spec(**kw)


def test_bad_model_or_data_is_refused(trained, data):
    empty = dataclasses.replace(data, calib_x=data.calib_x[:0], calib_y=data.calib_y[:0])
    cases = [(trained, empty, spec(), "calibration"),
             (nn.Sequential(nn.Flatten(), nn.ReLU()), data, spec(), "model"),
             (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), data, spec(), "model"),
             (trained, data, spec(calib_samples=10_000), "calib_samples")]
    for model, d, cfg, name in cases:
        with pytest.raises(ValueError, match=name):
            A.pcm_curve(model, d, cfg, progress=False)
    assert A.pcm_curve(trained, empty, spec(adabs=False, repeats=1, times=(1.0,)), progress=False)["accs"]


# ------------------------------------------------------------------------------------------ without aihwkit
def test_without_aihwkit_import_works_and_calls_say_why():
    code = textwrap.dedent("""
        import sys
        sys.modules["aihwkit"] = None            # as on a platform without an aihwkit wheel
        import samlab, samlab.analog as A, samlab.weights
        spec = A.PCMCurveSpec(times=(1.0,), repeats=1)
        for call in (A.pcm_rpu_config, A.check_backend):
            try:
                call()
            except A.AnalogUnavailableError as err:
                assert "pip install 'samlab[analog]'" in str(err), err
            else:
                raise SystemExit("no error")
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_a_broken_compiled_tile_raises_a_clear_error(trained, data, monkeypatch):
    from aihwkit.simulator.tiles.inference import InferenceTile

    def broken(*args, **kwargs):
        raise RuntimeError("undefined symbol: _ZN3c10 (simulated ABI mismatch)")

    A._probe.cache_clear()
    monkeypatch.setattr(InferenceTile, "forward", broken)
    try:
        with pytest.raises(A.AnalogUnavailableError, match="tile='torch'"):
            A.check_backend("compiled")
        with pytest.raises(A.AnalogUnavailableError, match="compiled"):
            A.pcm_curve(trained, data, spec(tile="compiled"), progress=False)
        A.check_backend("torch")  # the torch tile is unaffected
    finally:
        A._probe.cache_clear()
