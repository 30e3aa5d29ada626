"""samlab.sharpness.noise_curvature against truth: a hand-computed quadratic, the full Hessian, Monte-Carlo noise."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from samlab.data import ImageData
from samlab.noise import conductance_noise
from samlab.sharpness import NoiseCurvatureSpec, noise_curvature, predicted_loss_rise
from samlab.weights import conv_linear_weights

D = torch.float64


# ------------------------------------------------------------------------------------------- set-ups
def _quadratic(a: torch.Tensor, w: torch.Tensor) -> tuple[nn.Module, torch.Tensor, torch.Tensor, object]:
    """A bias-free linear "model" whose mean squared-error loss is exactly 0.5 w^T A w + b^T w + const."""
    d = len(w)
    x = math.sqrt(d) * torch.linalg.cholesky(a).T          # d samples with X^T X / d = A
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w[None])
    y = torch.linspace(-1.0, 2.0, d, dtype=D)                 # b = -X^T y / d: a gradient, no curvature

    def criterion(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 0.5 * (out.squeeze(-1) - target).pow(2).mean()

    return model, x, y, criterion


def _spd(d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=D))
    return q @ torch.diag(torch.linspace(0.2, 5.0, d, dtype=D)) @ q.T


def _probe_variance(m: torch.Tensor) -> float:
    """Var(z^T M z) for Rademacher z and symmetric M: 2 sum_{i != j} M_ij^2 (the diagonal is exact)."""
    return 2.0 * float(m.pow(2).sum() - torch.diagonal(m).pow(2).sum())


def _mlp(act: type[nn.Module] = nn.Tanh, batchnorm: bool = True, seed: int = 0) -> tuple[nn.Module, torch.Tensor,
                                                                                         torch.Tensor]:
    torch.manual_seed(seed)  # only to build the weights; tests that check the RNG save its state after this
    layers = [nn.Linear(4, 8)] + ([nn.BatchNorm1d(8)] if batchnorm else []) + [act(), nn.Linear(8, 3)]
    model = nn.Sequential(*layers).double()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 4, generator=g, dtype=D), torch.randint(0, 3, (64,), generator=g)
    model.train()
    with torch.no_grad():
        model(1.5 * x + 0.3)                                   # running statistics that are not the data's
    return model.eval(), x, y


def _exact(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The flattened Conv/Linear weights, the full Hessian of the eval-mode loss over them, and the loss of a
    flattened weight vector (biases and BatchNorm as they are)."""
    weights = conv_linear_weights(model)
    names = [n for n, q in model.named_parameters() if any(q is w for w in weights)]
    shapes = [w.shape for w in weights]
    flat0 = torch.cat([w.detach().reshape(-1) for w in weights])

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        chunks = flat.split([s.numel() for s in shapes])
        named = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        return F.cross_entropy(torch.func.functional_call(model, named, (x,)), y)

    return flat0, torch.autograd.functional.hessian(loss_of, flat0), loss_of


def _antithetic_ratios(loss_of, flat0: torch.Tensor, trace: float, sigma: float, z: torch.Tensor) -> torch.Tensor:
    """Per draw, ((L(W(1 + s z)) + L(W(1 - s z))) / 2 - L(W)) / ((s^2 / 2) tr): an unbiased draw of the ratio of
    the expected rise to the Taylor prediction (z and -z are equally likely, so the pair keeps the expectation
    and cancels the odd-order terms draw by draw)."""
    batched = torch.func.vmap(loss_of)
    with torch.no_grad():
        rise = (batched(flat0 * (1 + sigma * z)) + batched(flat0 * (1 - sigma * z))) / 2 - loss_of(flat0)
    return rise / (0.5 * sigma ** 2 * trace)


# ------------------------------------------------------------------------------------------- (1) quadratic
def test_diagonal_quadratic_is_exact_per_probe():
    a = torch.diag(torch.tensor([3.0, 0.5, 2.0, 7.0], dtype=D))
    w = torch.tensor([0.3, -1.2, 0.0, 0.8], dtype=D)
    model, x, y, criterion = _quadratic(a, w)
    truth = 3.0 * 0.09 + 0.5 * 1.44 + 0.0 + 7.0 * 0.64      # sum_i w_i^2 A_ii by hand
    out = noise_curvature(model, x, y, probes=5, seed=3, criterion=criterion, sigmas=[0.0, 0.1, 0.4])
    assert out["per_probe"] == pytest.approx([truth] * 5, rel=1e-12)
    assert out["trace"] == pytest.approx(truth, rel=1e-12) and out["trace_se"] < 1e-12 * truth
    assert out["layers"] == ["weight"] and out["layer_trace"] == pytest.approx([truth], rel=1e-12)
    assert out["predicted"]["rise"] == pytest.approx([0.0, 0.005 * truth, 0.08 * truth], rel=1e-12)
    assert out["weight_sq"] == pytest.approx(float(w.pow(2).sum())) and out["dimension"] == 4
    loss = 0.5 * float(((x @ w) - y).pow(2).mean())
    assert out["loss"] == pytest.approx(loss, rel=1e-12)


def test_non_diagonal_quadratic_converges_within_standard_errors():
    a = _spd(6)
    w = torch.tensor([0.5, -1.0, 1.5, 0.2, -0.7, 1.1], dtype=D)
    model, x, y, criterion = _quadratic(a, w)
    truth = float((w.pow(2) * torch.diagonal(a)).sum())
    true_se = math.sqrt(_probe_variance(torch.diag(w) @ a @ torch.diag(w)) / 1000)
    out = noise_curvature(model, x, y, probes=1000, seed=1, criterion=criterion)
    assert abs(out["trace"] - truth) < 4 * out["trace_se"]
    assert out["trace_se"] == pytest.approx(true_se, rel=0.1)   # sample std of 1000 probes: ~2-3 % off at most
    assert out["trace_se"] < 0.05 * truth


def test_standard_error_is_honest_over_200_seeds():
    # With 20 probes, +-1.96 SE covers a normal mean with probability P(|t_19| < 1.96) = 0.935. Over 200
    # independent seeds the number of covers is Binomial(200, 0.935) (sd 3.5 covers): P(<= 175) = 6e-4 and
    # P(>= 199) = 2e-5, so a correct SE lands in [176, 198] but for a 1-in-1600 seed set. An SE 20 % too small
    # covers ~87 %, one 40 % too large ~99.5 %: both fall outside. Independently, the mean reported variance must
    # be the exact probe variance 2 sum_{i != j} M_ij^2: 200 sample variances with 19 degrees of freedom average
    # to it within ~3 % (1 sd, with this M's kurtosis), so 10 % is over 3 sd.
    a = _spd(5, seed=2)
    w = torch.tensor([0.9, -0.4, 1.3, 0.6, -1.1], dtype=D)
    model, x, y, criterion = _quadratic(a, w)
    truth = float((w.pow(2) * torch.diagonal(a)).sum())
    variance = _probe_variance(torch.diag(w) @ a @ torch.diag(w))
    covered, var_sum = 0, 0.0
    for seed in range(200):
        out = noise_curvature(model, x, y, probes=20, seed=seed, criterion=criterion, sigmas=[])
        covered += abs(out["trace"] - truth) <= 1.96 * out["trace_se"]
        var_sum += out["trace_se"] ** 2 * 20
    print(f"coverage {covered}/200, mean variance / exact {var_sum / 200 / variance:.4f}")
    assert 176 <= covered <= 198, covered
    assert var_sum / 200 == pytest.approx(variance, rel=0.1)


# ------------------------------------------------------------------------------------------- (2) brute force
def test_mlp_with_batchnorm_matches_the_full_hessian_and_chunks_are_exact():
    model, x, y = _mlp()
    flat0, h, _ = _exact(model, x, y)
    m = torch.diag(flat0) @ h @ torch.diag(flat0)
    truth = float(torch.trace(m))
    out = noise_curvature(model, x, y, probes=300, seed=0)
    assert abs(out["trace"] - truth) < 4 * out["trace_se"] and out["trace_se"] < 0.1 * truth
    assert out["trace_se"] == pytest.approx(math.sqrt(_probe_variance(m) / 300), rel=0.2)
    assert out["layers"] == ["0.weight", "3.weight"] and out["dimension"] == 56
    assert sum(out["layer_trace"]) == pytest.approx(out["trace"], rel=1e-9)
    first = float((flat0[:32].pow(2) * torch.diagonal(h)[:32]).sum())    # layer 0's share by hand
    assert abs(out["layer_trace"][0] - first) < 4 * out["layer_trace_se"][0]
    chunked = noise_curvature(model, x, y, probes=4, seed=5, batch_size=7)   # 9 unequal chunks
    whole = noise_curvature(model, x, y, probes=4, seed=5, batch_size=64)
    assert chunked["per_probe"] == pytest.approx(whole["per_probe"], rel=1e-10)
    with torch.no_grad():
        assert chunked["loss"] == pytest.approx(float(F.cross_entropy(model(x), y)), rel=1e-12)


def test_monte_carlo_noise_matches_the_prediction_at_small_sigma_and_departs_at_large():
    model, x, y = _mlp()
    flat0, h, loss_of = _exact(model, x, y)
    trace = float((flat0.pow(2) * torch.diagonal(h)).sum())
    z = torch.randn(4000, flat0.numel(), generator=torch.Generator().manual_seed(7), dtype=D)
    # the functional evaluation is samlab's noise: the same tensors hit, W' = W (1 + s z)
    sizes = [w.numel() for w in conv_linear_weights(model)]
    fields = [f.view_as(w) for f, w in zip(z[0].split(sizes), conv_linear_weights(model))]
    with conductance_noise(model, 0.3, fields=fields), torch.no_grad():
        assert float(F.cross_entropy(model(x), y)) == pytest.approx(float(loss_of(flat0 * (1 + 0.3 * z[0]))))
    ratios = {s: _antithetic_ratios(loss_of, flat0, trace, s, z) for s in (0.02, 0.05, 1.0)}
    for s in (0.02, 0.05):              # measured: 1.004 +- 0.012 and 1.005 +- 0.012
        r = ratios[s]
        assert abs(float(r.mean()) - 1.0) < 3 * float(r.std()) / math.sqrt(len(r)), s
    # common random numbers: the same draws at every sigma, so the departure is paired draw by draw
    diff = ratios[1.0] - ratios[0.02]   # measured: +0.067 +- 0.005
    mean, se = float(diff.mean()), float(diff.std()) / math.sqrt(len(diff))
    assert abs(mean) > 5 * se and abs(mean) > 0.02
    est = noise_curvature(model, x, y, probes=100, seed=2, sigmas=[0.05])["predicted"]
    mc = float(ratios[0.05].mean()) * 0.5 * 0.05 ** 2 * trace
    mc_se = float(ratios[0.05].std()) / math.sqrt(4000) * 0.5 * 0.05 ** 2 * trace
    assert abs(est["rise"][0] - mc) < 3 * math.hypot(est["rise_se"][0], mc_se)


def test_relu_prediction_holds_only_below_the_nearest_kink():
    # a kink crossed by the noise adds a term the Hessian cannot see (module docstring): the prediction is exact
    # while sigma is below every pre-activation's distance to its kink and breaks soon after
    model, x, y = _mlp(nn.ReLU)
    flat0, h, loss_of = _exact(model, x, y)
    trace = float((flat0.pow(2) * torch.diagonal(h)).sum())
    z = torch.randn(4000, flat0.numel(), generator=torch.Generator().manual_seed(7), dtype=D)
    tiny, small = _antithetic_ratios(loss_of, flat0, trace, 1e-3, z), _antithetic_ratios(loss_of, flat0, trace,
                                                                                         0.02, z)
    assert abs(float(tiny.mean()) - 1.0) < 3 * float(tiny.std()) / math.sqrt(4000)   # measured 1.012 +- 0.014
    diff = small - tiny                                                                 # measured -0.78 +- 0.03
    assert abs(float(diff.mean())) > 5 * float(diff.std()) / math.sqrt(4000)


def test_weight_scaled_curvature_is_invariant_to_function_preserving_rescaling():
    model, x, y = _mlp(nn.ReLU, batchnorm=False)
    before = noise_curvature(model, x, y, probes=8, seed=4)
    flat0, h0, _ = _exact(model, x, y)
    scale = torch.linspace(0.25, 4.0, 8, dtype=D)
    with torch.no_grad():
        out0 = model(x)
        model[0].weight.mul_(scale[:, None])
        model[0].bias.mul_(scale)
        model[2].weight.div_(scale[None, :])
        torch.testing.assert_close(model(x), out0)                  # the same function
    after = noise_curvature(model, x, y, probes=8, seed=4)
    assert after["per_probe"] == pytest.approx(before["per_probe"], rel=1e-9)
    _, h1, _ = _exact(model, x, y)
    assert abs(float(torch.trace(h1)) / float(torch.trace(h0)) - 1.0) > 0.5    # SAM's curvature moves


# ------------------------------------------------------------------------------------------- (3) restore
def _cnn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 8, 8))                # non-trivial running statistics
    return model


def _state(model: nn.Module) -> tuple[dict, list[bool], list[bool], torch.Tensor]:
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()],
            [q.requires_grad for q in model.parameters()], torch.get_rng_state())


def _assert_same(model: nn.Module, state: tuple) -> None:
    sd, flags, req, rng = state
    after = model.state_dict()
    assert all(torch.equal(sd[k], after[k]) for k in sd)
    assert [m.training for m in model.modules()] == flags
    assert [q.requires_grad for q in model.parameters()] == req
    assert all(q.grad is None for q in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_restores_weights_buffers_flags_and_leaves_the_global_rng_also_on_error():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 3, 8, 8, generator=g), torch.randint(0, 3, (20,), generator=g)
    model = _cnn()
    model[5].eval()                            # a frozen eval-mode BN inside a train-mode model
    model[4].weight.requires_grad_(False)      # a frozen weight still gets the noise, and stays frozen
    state = _state(model)
    out = noise_curvature(model, x, y, probes=3, batch_size=8)
    _assert_same(model, state)
    assert out["layers"] == ["0.weight", "4.weight", "9.weight"] and out["layer_trace"][1] != 0.0
    calls = []

    def fail(*_):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")

    handle = model[9].register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        noise_curvature(model, x, y, probes=3, batch_size=8)
    handle.remove()
    _assert_same(model, state)


def test_seeded_results_repeat_and_are_json():
    model, x, y = _mlp()
    a = noise_curvature(model, x, y, probes=3, seed=9)
    b = noise_curvature(model, x, y, probes=3, seed=9)
    c = noise_curvature(model, x, y, probes=3, seed=10)
    assert a["per_probe"] == b["per_probe"] != c["per_probe"]
    json.dumps(a, allow_nan=False)
    assert predicted_loss_rise(a, 0.2)["rise"] == [pytest.approx(0.02 * a["trace"])]


# ------------------------------------------------------------------------------------------- (4) bad input
def test_bad_input_names_the_argument():
    model, x, y = _mlp()
    with pytest.raises(ValueError, match="same length"):
        noise_curvature(model, x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        noise_curvature(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="probes=1 .*>= 2"):
        noise_curvature(model, x, y, probes=1)
    with pytest.raises(ValueError, match="seed=-1"):
        noise_curvature(model, x, y, seed=-1)
    with pytest.raises(ValueError, match="batch_size=0"):
        noise_curvature(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match=r"sigmas\[1\]=-0.1 .*allowed"):
        noise_curvature(model, x, y, sigmas=[0.1, -0.1])
    with pytest.raises(ValueError, match="Conv/Linear"):
        noise_curvature(nn.Sequential(nn.Tanh()), x, y)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        noise_curvature("model", x, y)
    with pytest.raises(ValueError, match="mean"):
        noise_curvature(_cnn(), torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="trace"):
        predicted_loss_rise({"loss": 1.0}, 0.1)
    with pytest.raises(ValueError, match="sigmas='0.1'"):
        predicted_loss_rise({"trace": 1.0, "trace_se": 0.0}, "0.1")
    with pytest.raises(ValueError, match="probes=0"):
        NoiseCurvatureSpec(probes=0)


def test_spec_computes_on_its_data_repeatably():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 256, (30, 3, 8, 8), generator=g, dtype=torch.uint8), torch.randint(0, 3, (30,))
    data = ImageData(train_x=x, train_y=y, test_x=x[:10], test_y=y[:10], calib_x=x[:5], calib_y=y[:5],
                     num_classes=3, name="toy", is_fallback=False, mean=(0.5,) * 3, std=(0.25,) * 3)
    spec = NoiseCurvatureSpec(probes=2, max_samples=12, sigmas=[0.1])
    first = spec.compute(_cnn(), data)
    assert first["samples"] == 12 and first["predicted"]["sigmas"] == [0.1] and spec.sigmas == (0.1,)
    second = spec.compute(_cnn(), data)
    assert second["trace"] == first["trace"] and second["per_probe"] == first["per_probe"]  # one seed, one answer
