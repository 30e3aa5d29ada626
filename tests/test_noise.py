"""Conductance noise (SAMSON eq. 7-8), common random numbers, Monte-Carlo curves, AdaBS and the store wrapper."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import samlab.noise as noise
from samlab.batchnorm import reestimate_statistics
from samlab.noise import NoiseCurveSpec, conductance_noise, noise_curve, noise_fields, noisy_weights, robustness_gap
from samlab.runs import RunStore
from samlab.weights import conv_linear_weights

try:  # evaluate() is moving from samlab.train.loop to samlab.evaluate
    from samlab.evaluate import evaluate
except ImportError:
    from samlab.train.loop import evaluate


# ------------------------------------------------------------------------------------------------ helpers
def pooled_linear(w: list[list[float]], dtype=torch.float64) -> nn.Module:
    """Per-channel mean of the image, then one bias-free Linear layer with the given weights."""
    lin = nn.Linear(3, len(w), bias=False).to(dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w, dtype=dtype))
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), _Cast(dtype), lin)


class _Cast(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)


def constant_images(pixels: list[tuple[int, int, int]]) -> torch.Tensor:
    """uint8 images (N, 3, 4, 4) whose channel c is the constant pixels[n][c]."""
    return torch.tensor(pixels, dtype=torch.uint8)[:, :, None, None].expand(-1, -1, 4, 4).contiguous()


def hand_data(calib: int = 2) -> dict:
    # features x = pixel / 255 (mean 0, std 1): A = (1, .502, 0) label 0, B = (1, 0, 0) label 0, C = (0, 1, 0) label 1
    x = constant_images([(255, 128, 0), (255, 0, 0), (0, 255, 0)])
    return {"test_x": x, "test_y": torch.tensor([0, 0, 1]), "calib_x": x[:calib],
            "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def bn_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3))


def bn_data(n: int = 24, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 6, 6), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    return {"test_x": x, "test_y": y, "calib_x": x.flip(0)[: n // 2], "mean": (0.5, 0.5, 0.5),
            "std": (0.25, 0.25, 0.25)}


def spec(**kw) -> NoiseCurveSpec:
    base = dict(sigmas=(0.0, 0.1, 0.4), draws=3, adabs=True, seed=0, batch_size=8)
    return NoiseCurveSpec(**{**base, **kw})


def state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bitwise(model: nn.Module, saved: dict) -> None:
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k


# ------------------------------------------------------------------------------------------------ eq. 7-8
def reference_conductance_readback(w: torch.Tensor, delta: torch.Tensor, g_max: float = 25.0) -> torch.Tensor:
    """Eq. 7-8 done explicitly: differential pair G+ / G- in [0, G_max], G = G_T * delta, read back linearly."""
    w_max = w.abs().max()
    g_target = w.abs() / w_max * g_max                       # eq. 7
    g_plus = torch.where(w > 0, g_target, torch.zeros_like(w))
    g_minus = torch.where(w < 0, g_target, torch.zeros_like(w))
    g_plus, g_minus = g_plus * delta, g_minus * delta         # eq. 8 (the idle device sits at 0 and stays there)
    return (g_plus - g_minus) * w_max / g_max


@pytest.mark.parametrize("g_max", [1.0, 25.0, 1e3])
def test_conductance_mapping_equals_multiplicative_noise(g_max):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(7, 5, dtype=torch.float64, generator=g)
    w[0, 0] = 0.0
    z = torch.randn(7, 5, dtype=torch.float64, generator=g)
    sigma = 0.3
    ref = reference_conductance_readback(w, 1 + sigma * z, g_max)
    got = noisy_weights([w], sigma, [z])[0]
    torch.testing.assert_close(got, ref, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(got, w * (1 + sigma * z), rtol=0, atol=0)


def test_hand_computed_noisy_logits():
    model = pooled_linear([[1.0, -2.0, 0.0], [0.5, 1.0, 3.0]])
    z = [torch.tensor([[1.0, 0.0, 2.0], [-1.0, 2.0, 0.0]])]
    x = torch.tensor([[[[1.0]], [[1.0]], [[2.0]]]], dtype=torch.float64)  # features (1, 1, 2)
    with conductance_noise(model, 0.5, fields=z):
        # W' = W * (1 + .5 z) = [[1.5, -2, 0], [0.25, 2, 3]] -> logits (1.5 - 2, 0.25 + 2 + 6)
        assert model[-1].weight.tolist() == [[1.5, -2.0, 0.0], [0.25, 2.0, 3.0]]
        assert model(x).tolist() == [[-0.5, 8.25]]
    assert model[-1].weight.tolist() == [[1.0, -2.0, 0.0], [0.5, 1.0, 3.0]]


def test_hand_computed_curve(monkeypatch):
    """W = [[1,0,0],[0,1,0]]; draw 0 has z = -3 on W[0,0], draw 1 has z = 0: at sigma s, logit0 = (1 - 3s) x0."""
    fields = {0: [torch.tensor([[-3.0, 0, 0], [0, 0, 0]])], 1: [torch.zeros(2, 3)]}
    monkeypatch.setattr(noise, "noise_fields", lambda weights, *, seed, draw: fields[draw])
    model = pooled_linear([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    sigmas = (0.0, 0.1, 0.25, 0.4)
    # draw 0: s=.1 -> .7 x0: all right; s=.25 -> .25 x0 < .502: A wrong; s=.4 -> -.2 x0: A and B wrong
    expected = [[1, 1], [1, 1], [2 / 3, 1], [1 / 3, 1]]
    for adabs in (False, True):   # no BatchNorm: AdaBS changes nothing
        c = noise_curve(model, hand_data(), spec(sigmas=sigmas, draws=2, adabs=adabs), progress=adabs)
        assert c["sigmas"] == list(sigmas)
        for got, want in zip(c["accs"], expected):
            assert got == pytest.approx(want, abs=1e-15)
        assert c["mean_acc"][3] == pytest.approx(2 / 3)
        assert c["std_acc"][3] == pytest.approx((2 / 3) / math.sqrt(2))
        assert c["std_acc"][0] == 0.0
        assert c["adabs_applied"] is False
        gap, gap_std = robustness_gap(c)
        assert gap == pytest.approx(1 / 3) and gap_std == pytest.approx((2 / 3) / math.sqrt(2))
        assert robustness_gap(c, 0.0, 0.1) == (0.0, 0.0)


# ------------------------------------------------------------------------------------------------ CRN, seeds
def test_common_random_numbers_across_sigmas_and_models():
    a, b = bn_model(0), bn_model(1)
    za, zb = noise_fields(a, seed=3, draw=2), noise_fields(b, seed=3, draw=2)
    assert all(torch.equal(x, y) for x, y in zip(za, zb))           # across models of one architecture
    assert not torch.equal(za[0], noise_fields(a, seed=3, draw=1)[0])  # draws differ
    assert not torch.equal(za[0], noise_fields(a, seed=4, draw=2)[0])  # seeds differ
    a64 = bn_model(0).double()
    w = [p.detach().clone() for p in conv_linear_weights(a64)]
    s = 0.15
    with conductance_noise(a64, s, seed=3, draw=2):
        d1 = [p.detach() - w0 for p, w0 in zip(conv_linear_weights(a64), w)]
    with conductance_noise(a64, 2 * s, seed=3, draw=2):
        d2 = [p.detach() - w0 for p, w0 in zip(conv_linear_weights(a64), w)]
    for x, y, z, w0 in zip(d1, d2, za, w):
        torch.testing.assert_close(y, 2 * x, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(x, s * z.double() * w0, rtol=1e-12, atol=1e-15)


def test_fields_depend_on_layer_index_and_shape_only():
    small = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    longer = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(2, 2))
    zs, zl = noise_fields(small, seed=0, draw=0), noise_fields(longer, seed=0, draw=0)
    assert torch.equal(zs[0], zl[0]) and torch.equal(zs[1], zl[1])
    other = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 3))
    assert not torch.equal(noise_fields(other, seed=0, draw=0)[1][:2], zs[1])


def test_reproducible_and_global_rng_untouched():
    model, data = bn_model(), bn_data()
    rng = torch.get_rng_state()
    torch.manual_seed(123)
    c1 = noise_curve(model, data, spec(), progress=False)
    torch.manual_seed(999)
    c2 = noise_curve(model, data, spec(), progress=False)
    assert c1 == c2
    torch.manual_seed(5)
    before = torch.get_rng_state()
    noise_curve(model, data, spec(seed=1), progress=False)
    assert torch.equal(torch.get_rng_state(), before)
    torch.set_rng_state(rng)
    c3 = noise_curve(model, data, spec(seed=1), progress=False)
    assert c3["accs"] != c1["accs"] or c3["losses"] != c1["losses"]


# ------------------------------------------------------------------------------------------------ sigma 0, restore
def test_sigma_zero_is_clean_bitwise():
    model, data = bn_model(), bn_data()
    saved = state(model)
    with conductance_noise(model, 0.0, seed=0, draw=0):
        assert_bitwise(model, saved)
    clean = evaluate(model, data["test_x"], data["test_y"], mean=data["mean"], std=data["std"], batch_size=8)
    c = noise_curve(model, data, spec(sigmas=(0.0,), draws=4), progress=False)
    assert c["accs"] == [[clean[1]] * 4] and c["losses"] == [[clean[0]] * 4]
    assert c["mean_acc"] == [clean[1]] and c["std_acc"] == [0.0]
    assert_bitwise(model, saved)


def test_weights_and_bn_statistics_restored_exactly():
    model, data = bn_model(), bn_data()
    model.train()
    saved = state(model)
    noise_curve(model, data, spec(), progress=False)
    assert_bitwise(model, saved)
    assert model.training and all(m.training for m in model.modules())


def test_restored_on_exception(monkeypatch):
    model, data = bn_model(), bn_data()
    saved = state(model)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:   # the clean evaluation, one noisy draw, then fail inside the second noisy draw
            raise RuntimeError("boom")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(noise, "evaluate", failing)
    with pytest.raises(RuntimeError, match="boom"):
        noise_curve(model, data, spec(), progress=False)
    assert_bitwise(model, saved)
    with pytest.raises(RuntimeError, match="inside"):
        with conductance_noise(model, 0.3, seed=0, draw=0):
            raise RuntimeError("inside")
    assert_bitwise(model, saved)


# ------------------------------------------------------------------------------------------------ AdaBS
def test_adabs_reestimates_during_draw_and_restores(monkeypatch):
    model, data = bn_model(), bn_data()
    bn = model[1]
    saved = state(model)
    seen = []

    def recording(m, x, y, **kwargs):
        seen.append((bn.running_mean.clone(), bn.running_var.clone(),
                     [p.detach().clone() for p in conv_linear_weights(m)]))
        return evaluate(m, x, y, **kwargs)

    monkeypatch.setattr(noise, "evaluate", recording)
    s = spec(sigmas=(0.0, 0.4), draws=2, calib_samples=5)
    c = noise_curve(model, data, s, progress=False)
    assert c["adabs_applied"] and c["n_calib"] == 5
    assert len(seen) == 3                                    # clean once, then two noisy draws
    assert torch.equal(seen[0][0], saved["1.running_mean"])  # sigma 0: no AdaBS
    ref = bn_model()
    ref.load_state_dict(saved)
    for mean, var, noisy in seen[1:]:
        assert not torch.equal(mean, saved["1.running_mean"])
        with torch.no_grad():                               # AdaBS by hand on the first 5 calibration images
            for p, v in zip(conv_linear_weights(ref), noisy):
                p.copy_(v)
        from samlab.data import normalize
        reestimate_statistics(ref, [normalize(data["calib_x"][:5], data["mean"], data["std"])])
        torch.testing.assert_close(mean, ref[1].running_mean, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(var, ref[1].running_var, rtol=1e-6, atol=1e-6)
    assert_bitwise(model, saved)
    off = noise_curve(model, data, spec(sigmas=(0.0, 0.4), draws=2, adabs=False), progress=False)
    assert off["adabs_applied"] is False and off["n_calib"] == 0


def test_model_without_bn_adabs_on_equals_off():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    data = bn_data()
    on = noise_curve(model, data, spec(adabs=True), progress=False)
    off = noise_curve(model, data, spec(adabs=False), progress=False)
    assert on["accs"] == off["accs"] and on["losses"] == off["losses"]


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kw, name", [
    (dict(sigmas=(0.0, -0.1)), "sigmas"), (dict(sigmas=(float("nan"),)), "sigmas"),
    (dict(sigmas=(float("inf"),)), "sigmas"), (dict(sigmas=()), "sigmas"), (dict(sigmas=(0.1, 0.1)), "sigmas"),
    (dict(draws=0), "draws"), (dict(draws=1.5), "draws"), (dict(calib_samples=0), "calib_samples"),
    (dict(seed=-1), "seed"), (dict(batch_size=0), "batch_size"), (dict(adabs=1), "adabs"),
])
def test_bad_config(kw, name):
    with pytest.raises(ValueError, match=name):
        spec(**kw)


def test_bad_model_and_data():
    with pytest.raises(ValueError, match="model"):
        noise_curve(nn.Sequential(nn.Flatten()), hand_data(), spec(), progress=False)
    with pytest.raises(ValueError, match="calib_x"):
        noise_curve(bn_model(), {**bn_data(), "calib_x": bn_data()["calib_x"][:0]}, spec(), progress=False)
    with pytest.raises(ValueError, match="calib_samples"):
        noise_curve(bn_model(), bn_data(), spec(calib_samples=1000), progress=False)
    with pytest.raises(ValueError, match="sigma"):
        with conductance_noise(bn_model(), -0.1):
            pass
    with pytest.raises(ValueError, match="high"):
        robustness_gap({"sigmas": [0.0, 0.2], "accs": [[1.0], [0.5]]})


# ------------------------------------------------------------------------------------------------ the store
def _finished_run(store: RunStore):
    from samlab.models import create_model
    from samlab.train import TrainConfig

    config = TrainConfig(model="small_cnn", dataset="digits", epochs=1, max_train_samples=64, max_test_samples=24, batch_size=32,
                         device="cpu")
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10)
    return config, model, store.finish(config, {"test_acc": 0.0}, model.state_dict())


def test_the_noise_curve_of_a_stored_run_is_computed_once_in_its_folder(monkeypatch, tmp_path):
    from samlab.train import run_data
    from samlab.train.load import measure_run

    store = RunStore(tmp_path / "runs")
    config, model, result = _finished_run(store)
    curve = NoiseCurveSpec(sigmas=(0.0, 0.3), draws=2, calib_samples=16, batch_size=32)
    assert store.stored_measure(config, curve) is None
    got = measure_run(config, curve, store=store, progress=False)
    assert got == noise_curve(model, run_data(config), curve, progress=False)
    assert store.list_measures(config, kind="NoiseCurveSpec")  # stored under the run
    assert got["n_test"] == 24 and got["n_calib"] == 16
    monkeypatch.setattr(noise, "noise_curve", lambda *a, **k: pytest.fail("recomputed"))
    assert measure_run(config, curve, store=store, progress=False) == got == store.stored_measure(config, curve)


def test_an_error_during_the_measurement_writes_nothing(tmp_path):
    from samlab.train.load import measure_run

    store = RunStore(tmp_path / "runs")
    config, _, result = _finished_run(store)
    before = sorted(str(p) for p in store.root.rglob("*"))
    with pytest.raises(ValueError, match="calib_samples"):
        measure_run(config, NoiseCurveSpec(calib_samples=10_000, draws=1), store=store, progress=False)
    assert sorted(str(p) for p in store.root.rglob("*")) == before


def test_adabs_on_float_signals_uses_the_signal_batches():
    """MNIST-1D signals are float (N, 1, 40): AdaBS must calibrate on them as they are (no /255, no uint8 path)."""
    from samlab.batchnorm import batchnorm_modules
    from samlab.models import create_model

    model = create_model("mnist1d_cnn_bn", num_classes=10, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    data = {"test_x": torch.randn(16, 1, 40, generator=gen), "test_y": torch.arange(16) % 10,
            "calib_x": torch.randn(12, 1, 40, generator=gen), "mean": (0.0,), "std": (1.0,)}
    before = [b.running_mean.clone() for b in batchnorm_modules(model)]
    curve = noise_curve(model, data, NoiseCurveSpec(sigmas=(0.0, 0.2), draws=2, batch_size=8),
                        progress=False)
    assert curve["adabs_applied"] and len(curve["accs"][1]) == 2
    assert all(torch.equal(a, b.running_mean) for a, b in zip(before, batchnorm_modules(model)))


# ------------------------------------------------------------------------------------------------ calibrated clean
def test_calibrated_clean_equals_a_hand_recalibrated_copy():
    import copy

    import torch.nn.functional as F

    model, data = bn_model(), bn_data()
    saved = state(model)
    out = noise.calibrated_clean(model, data, noise.CalibratedCleanSpec(batch_size=100))
    assert_bitwise(model, saved)                                   # statistics put back exactly
    # by hand: BN's statistics = mean and unbiased variance of the conv outputs on the calibration images
    ref = copy.deepcopy(model).eval()
    norm = lambda x: (x.float() / 255 - 0.5) / 0.25  # noqa: E731
    with torch.no_grad():
        h = ref[0](norm(data["calib_x"]))
        ref[1].running_mean.copy_(h.mean(dim=(0, 2, 3)))
        ref[1].running_var.copy_(h.transpose(0, 1).reshape(4, -1).var(dim=1, unbiased=True))
        logits = ref(norm(data["test_x"]))
    assert out["loss"] == pytest.approx(float(F.cross_entropy(logits, data["test_y"])), rel=1e-5)
    assert out["accuracy"] == pytest.approx(float((logits.argmax(1) == data["test_y"]).float().mean()))
    with torch.no_grad():
        plain = model.eval()(norm(data["test_x"]))
    assert out["accuracy_training_stats"] == pytest.approx(float((plain.argmax(1) == data["test_y"]).float().mean()))
    assert out["adabs_applied"] and out["n_calib"] == 12


def test_calibrated_clean_without_batchnorm_is_the_plain_accuracy_and_bad_input_is_refused():
    model = pooled_linear([[1.0, -1.0, 0.0], [0.0, 1.0, 0.0]])
    out = noise.calibrated_clean(model, hand_data())
    assert out["accuracy"] == out["accuracy_training_stats"] and not out["adabs_applied"]
    with pytest.raises(ValueError, match="calib_samples"):
        noise.calibrated_clean(bn_model(), bn_data(), noise.CalibratedCleanSpec(calib_samples=99))
    with pytest.raises(ValueError, match="CalibratedCleanSpec"):
        noise.calibrated_clean(bn_model(), bn_data(), spec())


def test_gap_from_the_calibrated_clean_accuracy_by_hand():
    curve = {"sigmas": [0.0, 0.4], "accs": [[0.9, 0.9], [0.5, 0.3]], "adabs_applied": True}
    gap, std = robustness_gap(curve, clean={"accuracy": 0.8})
    assert gap == pytest.approx(0.4) and std == pytest.approx(math.sqrt(0.02))   # (0.3, 0.5)
    with pytest.raises(ValueError, match="low"):
        robustness_gap({**curve, "sigmas": [0.1, 0.4]}, 0.1, 0.4, clean={"accuracy": 0.8})
    with pytest.raises(ValueError, match="without AdaBS"):
        robustness_gap({**curve, "adabs_applied": False}, clean={"accuracy": 0.8})
