"""samlab.sharpness: m-sharpness, Keskar, Hessian and landscapes against hand-derived values."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from samlab.data import ImageData
from samlab.sharpness import (HessianSpec, KeskarSpec, LandscapeSpec, MSharpnessSpec, adversarial_directions,
                              box_maximum, filter_normalize, grid_coordinates, hessian_max_eigenvalue,
                              hessian_vector_product, keskar_sharpness, landscape_grid, loss_landscape, m_sharpness,
                              power_iteration, random_directions, worst_case_loss)
from samlab.weights import conv_linear_weights

D = torch.float64


def _spd(eigs, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=D))
    return q @ torch.diag(torch.tensor(eigs, dtype=D)) @ q.T


def _tiny_cnn(seed=0, width=4):
    torch.manual_seed(seed)  # only to build the weights; tests that check the RNG save its state after this
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(4),
                         nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3))


def _trained_bn(model, x):
    model.train()
    with torch.no_grad():
        model(x)        # non-trivial running statistics
    return model


def _images(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8), torch.randint(0, 3, (n,), generator=g)


MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _data(n=40):
    x, y = _images(n)
    return ImageData(train_x=x, train_y=y, test_x=x[:10], test_y=y[:10], calib_x=x[:5], calib_y=y[:5],
                     num_classes=3, name="toy", is_fallback=False, mean=MEAN, std=STD)


def _setup():
    x, y = _images()
    model = _trained_bn(_tiny_cnn(), torch.randn(16, 3, 8, 8))
    return model, x, y


# ------------------------------------------------------------------------------------------- m-sharpness
def test_sam_one_step_rise_on_a_quadratic_is_the_closed_form():
    # L = 1/2 (w-w*)^T A (w-w*), g = A (w-w*), eps = rho g/||g||:
    # L(w+eps) - L(w) = g^T eps + 1/2 eps^T A eps = rho ||g|| + rho^2 g^T A g / (2 ||g||^2), exactly.
    a = _spd([4.0, 2.0, 1.0, 0.5])
    w_star = torch.tensor([0.3, -0.2, 0.1, 0.0], dtype=D)
    w = nn.Parameter(torch.tensor([1.0, 0.5, -0.7, 0.2], dtype=D))
    rho = 0.05
    loss_fn = lambda: 0.5 * (w - w_star) @ a @ (w - w_star)  # noqa: E731
    l0, l1 = worst_case_loss([w], loss_fn, method="sam", rho=rho)
    g = a @ (w.detach() - w_star)
    expected = rho * g.norm() + rho ** 2 * (g @ a @ g) / (2 * g.norm() ** 2)
    assert l1 - l0 == pytest.approx(float(expected), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("method,p", [("asam", 2.0), ("samson", 2.0), ("samson", math.inf)])
def test_adaptive_one_step_rise_on_a_quadratic(method, p):
    # eps = rho T^2 g / ||T g||: rise = rho ||T g|| + 1/2 eps^T A eps (T = |w| for ASAM eq. 12 without eta,
    # T = |w| / ||W||_p for SAMSON in eq. 5's form).
    a = _spd([3.0, 1.0, 0.5, 0.25], seed=1)
    w = nn.Parameter(torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=D))  # a 2-d "weight": adaptive
    loss_fn = lambda: 0.5 * w.reshape(-1) @ a @ w.reshape(-1)  # noqa: E731
    l0, l1 = worst_case_loss([w], loss_fn, method=method, rho=0.5, p=p, eta=0.0)
    wf = w.detach().reshape(-1)
    t = wf.abs() if method == "asam" else wf.abs() / torch.linalg.vector_norm(wf, ord=p)
    g = a @ wf
    eps = 0.5 * t * t * g / (t * g).norm()
    assert l1 - l0 == pytest.approx(float(g @ eps + 0.5 * eps @ a @ eps), rel=1e-12)


def test_projected_ascent_reaches_the_linear_maximum_and_stays_in_the_neighbourhood():
    # On a linear loss c^T w the maximum over ||eps/|w|||_2 <= rho is rho ||T c|| (T = |w|): every projected
    # step keeps ||T^{-1} eps|| <= rho, and k steps along the same gradient end on the boundary.
    c = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=D)
    w = nn.Parameter(torch.tensor([[0.5, 1.0], [2.0, -0.25]], dtype=D))
    w0 = w.detach().clone()
    seen = []

    def loss_fn():
        seen.append(float(((w.detach() - w0) / w0.abs()).norm()))
        return (c * w).sum()

    l0, l1 = worst_case_loss([w], loss_fn, method="asam", rho=0.3, eta=0.0, steps=5)
    assert l1 - l0 == pytest.approx(0.3 * float((w0.abs() * c).norm()), rel=1e-12)
    assert max(seen) <= 0.3 * (1 + 1e-12)
    assert torch.equal(w.detach(), w0)


def test_projected_ascent_reports_its_largest_loss_not_its_last_on_a_curved_loss():
    # L(w) = -(w - 0.3)^2 at w = 0, SAM ball rho = 1: the peak (eps = 0.3, L = 0) lies inside. Two steps of 0.4
    # (more than the 0.3 to the peak) along the sign of the gradient: g(0) = 0.6 > 0 -> eps = 0.4, L = -0.01;
    # g(0.4) = -0.2 < 0 -> eps = 0, L = -0.09 (= L(w)). The ascent reports its largest iterate, -0.01, not -0.09.
    w = nn.Parameter(torch.tensor([0.0], dtype=D))
    l0, l1 = worst_case_loss([w], lambda: -((w - 0.3) ** 2).sum(), method="sam", rho=1.0, steps=2, step_size=0.4)
    assert l0 == pytest.approx(-0.09, rel=1e-12)
    assert l1 == pytest.approx(-0.01, rel=1e-12)
    assert torch.equal(w.detach(), torch.tensor([0.0], dtype=D))


def test_m_sharpness_batches_are_the_pure_per_batch_rises():
    model, x, y = _setup()
    out = m_sharpness(model, x, y, m=16, method="sam", mean=MEAN, std=STD)
    assert out["n_batches"] == 2 and out["samples_used"] == 32       # 40 // 16 batches, remainder dropped
    from samlab.evaluate import eval_mode
    from samlab.sharpness._common import prepare_inputs
    xb, yb = prepare_inputs(x[16:32], y[16:32], mean=MEAN, std=STD)
    params = [q for q in model.parameters()]
    with eval_mode(model):
        l0, l1 = worst_case_loss(params, lambda: F.cross_entropy(model(xb), yb), method="sam", rho=0.05)
    assert out["per_batch"][1] == pytest.approx(l1 - l0, rel=1e-6)
    assert out["m_sharpness"] == pytest.approx(sum(out["per_batch"]) / 2)
    assert out["rho"] == 0.05 and out["adaptive"] == "weights"
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("method,p", [("sam", 2.0), ("asam", 2.0), ("samson", 2.0), ("samson", math.inf)])
def test_m_sharpness_methods_are_positive_and_json(method, p):
    model, x, y = _setup()
    out = m_sharpness(model, x, y, m=20, method=method, p=p, steps=2, mean=MEAN, std=STD, seed=3)
    assert out["m_sharpness"] > 0
    assert out["p"] == ("inf" if math.isinf(p) else p)
    json.dumps(out, allow_nan=False)


# ------------------------------------------------------------------------------------------- Keskar
def test_keskar_box_maximum_of_a_separable_quadratic_is_the_far_corner():
    # L(w + z) = 1/2 sum a_i (w_i + z_i - c_i)^2 on |z_i| <= eps (|w_i| + 1): each term is largest at the
    # corner away from c_i, so max L = 1/2 sum a_i (|w_i - c_i| + eps (|w_i| + 1))^2.
    a = np.array([1.0, 4.0, 0.5, 2.0])
    c = np.array([0.1, -0.3, 0.7, 0.0])
    w = np.array([0.5, 0.2, -1.0, 0.05])
    eps = 1e-2

    def value_and_grad(delta):
        r = w + delta - c
        return 0.5 * float(a @ (r * r)), a * r

    out = box_maximum(value_and_grad, w, eps=eps, maxiter=50)
    expected = 0.5 * float(a @ (np.abs(w - c) + eps * (np.abs(w) + 1)) ** 2)
    loss0 = 0.5 * float(a @ (w - c) ** 2)
    assert out["max_loss"] == pytest.approx(expected, rel=1e-12)
    assert out["sharpness"] == pytest.approx(100 * (expected - loss0) / (1 + loss0), rel=1e-10)


def test_keskar_subspace_on_a_linear_loss_is_the_box_support_function():
    # L(w + A z) = g^T w + (A^T g)^T z: max over |z_i| <= h_i = eps (|(A^+ w)_i| + 1) is sum_i |(A^T g)_i| h_i.
    rng = np.random.default_rng(0)
    w, g = rng.normal(size=30), rng.normal(size=30)
    out = box_maximum(lambda d: (float(g @ (w + d)), g), w, eps=1e-3, subspace_dim=5, seed=7)
    a = torch.randn(30, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float32).double().numpy()
    h = 1e-3 * (np.abs(np.linalg.pinv(a) @ w) + 1)
    assert out["max_loss"] - out["loss"] == pytest.approx(float(np.abs(a.T @ g) @ h), rel=1e-9)
    assert out["space"] == "subspace" and out["subspace_dim"] == 5


def test_keskar_sharpness_of_a_model():
    model, x, y = _setup()
    out = keskar_sharpness(model, x, y, eps=1e-3, maxiter=3, mean=MEAN, std=STD, batch_size=16)
    assert out["sharpness"] > 0 and out["max_loss"] > out["loss"]
    assert out["dimension"] == sum(q.numel() for q in model.parameters())
    sub = keskar_sharpness(model, x, y, eps=5e-4, maxiter=3, subspace_dim=4, parameters="conv_linear",
                           mean=MEAN, std=STD)
    assert sub["dimension"] == sum(w.numel() for w in conv_linear_weights(model)) and sub["sharpness"] >= 0
    json.dumps(out, allow_nan=False)


# ------------------------------------------------------------------------------------------- Hessian
def test_power_iteration_on_a_quadratic_finds_the_largest_eigenvalue():
    a = _spd([5.0, 2.0, 1.0, 0.5])
    w = nn.Parameter(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=D))
    out = power_iteration(lambda v: hessian_vector_product([w], lambda: 0.5 * w @ a @ w, v), [w], iters=200, tol=0.0)
    assert out["eigenvalue"] == pytest.approx(5.0, rel=1e-10)
    assert out["iterates"][-1] == out["eigenvalue"] and len(out["iterates"]) == out["iterations"]
    assert out["residual"] < 1e-6


def test_power_iteration_keeps_the_sign_of_a_negative_dominant_eigenvalue():
    # H = diag(-5, 2, 1) (rotated): the eigenvalue of largest magnitude is -5, and the Rayleigh quotient v.Hv
    # reports it with its sign (the module docstring's promise), not its magnitude ||Hv|| = 5.
    a = _spd([-5.0, 2.0, 1.0], seed=2)
    w = nn.Parameter(torch.tensor([0.1, 0.2, 0.3], dtype=D))
    out = power_iteration(lambda v: hessian_vector_product([w], lambda: 0.5 * w @ a @ w, v), [w], iters=200, tol=0.0)
    assert out["eigenvalue"] == pytest.approx(-5.0, rel=1e-10)
    assert out["residual"] < 1e-6


def test_hessian_max_eigenvalue_matches_the_explicit_hessian_over_chunks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(10, 3, generator=g, dtype=D), torch.randint(0, 2, (10,), generator=g)
    params = list(model.parameters())
    shapes = [q.shape for q in params]
    flat0 = torch.cat([q.detach().reshape(-1) for q in params])

    def loss_of(flat):
        chunks = flat.split([int(np.prod(s)) for s in shapes])
        named = {n: c.view(s) for (n, _), c, s in zip(model.named_parameters(), chunks, shapes)}
        return F.cross_entropy(torch.func.functional_call(model, named, (x,)), y)

    h = torch.autograd.functional.hessian(loss_of, flat0)
    eigs = torch.linalg.eigvalsh(h)
    top = eigs[eigs.abs().argmax()]
    out = hessian_max_eigenvalue(model, x, y, iters=500, tol=1e-12, batch_size=3)
    assert out["eigenvalue"] == pytest.approx(float(top), rel=1e-6)


# ------------------------------------------------------------------------------------------- landscape
def test_filter_normalised_directions_have_the_weight_filter_norms_and_are_orthogonal():
    model = _tiny_cnn()
    weights = conv_linear_weights(model)
    d1, d2 = random_directions(weights, seed=5)
    for a, b, w in zip(d1, d2, weights):
        rows = lambda t: t.reshape(t.shape[0], -1)  # noqa: E731
        torch.testing.assert_close(rows(a).norm(dim=1), rows(w.detach()).norm(dim=1))
        torch.testing.assert_close(rows(b).norm(dim=1), rows(w.detach()).norm(dim=1))
        assert (rows(a) * rows(b)).sum(1).abs().max() < 1e-5 * rows(w.detach()).norm(dim=1).pow(2).max()
    assert len(d1) == len(weights)


def test_same_seed_same_directions_for_every_model_of_one_architecture():
    m1, m2 = _tiny_cnn(seed=0), _tiny_cnn(seed=1)
    w1, w2 = conv_linear_weights(m1), conv_linear_weights(m2)
    for a, b, u, v in zip(random_directions(w1, seed=3)[0], random_directions(w2, seed=3)[0], w1, w2):
        rows = lambda t: t.reshape(t.shape[0], -1)  # noqa: E731
        ua = rows(a) / rows(u.detach()).norm(dim=1, keepdim=True)
        vb = rows(b) / rows(v.detach()).norm(dim=1, keepdim=True)
        torch.testing.assert_close(ua, vb)
    zero = filter_normalize([torch.zeros_like(w) for w in w1], w1)
    assert all(torch.count_nonzero(z) == 0 for z in zero)


def test_landscape_center_is_the_model_loss_and_grid_shapes():
    model, x, y = _setup()
    out = loss_landscape(model, x, y, resolution=5, span=0.5, batch_size=16, mean=MEAN, std=STD)
    from samlab.evaluate import eval_mode
    from samlab.sharpness._common import prepare_inputs
    xf, yf = prepare_inputs(x, y, mean=MEAN, std=STD)
    with eval_mode(model), torch.no_grad():
        loss = F.cross_entropy(model(xf), yf).item()
    assert out["coords"] == [-0.5, -0.25, 0.0, 0.25, 0.5]
    assert out["loss"][2][2] == out["center_loss"] == pytest.approx(loss, rel=1e-6)
    assert len(out["loss"]) == 5 and all(len(r) == 5 for r in out["loss"])
    one = loss_landscape(model, x, y, dims=1, resolution=3, mean=MEAN, std=STD, draws=2)
    assert one["loss"][1] == pytest.approx(loss, rel=1e-6) and len(one["loss"]) == 3
    adv = loss_landscape(model, x, y, kind="adversarial", resolution=3, eta=0.1, mean=MEAN, std=STD)
    assert adv["loss"][1][1] == pytest.approx(loss, rel=1e-6)
    json.dumps(adv, allow_nan=False)


def test_batchnorm_folding_gives_the_same_landscape():
    # eval BN(conv(x; w + a d)) = folded conv with weight w s + a (d s): equal up to rounding.
    model, x, y = _setup()
    dirs = random_directions(conv_linear_weights(model), seed=2)
    kw = dict(resolution=3, span=0.7, mean=MEAN, std=STD)
    folded = landscape_grid(model, x, y, dirs, **kw)
    plain = landscape_grid(model, x, y, dirs, fold_batchnorm=False, **kw)
    np.testing.assert_allclose(folded["loss"], plain["loss"], rtol=1e-5)
    assert folded["accuracy"] == plain["accuracy"]

def test_adversarial_directions_are_eta_times_half_batch_gradients():
    model, x, y = _setup()
    d1, d2 = adversarial_directions(model, x, y, eta=0.2, seed=1, orthogonalize=False, mean=MEAN, std=STD)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))[:20]
    from samlab.evaluate import eval_mode
    from samlab.sharpness._common import prepare_inputs
    xf, yf = prepare_inputs(x, y, mean=MEAN, std=STD)
    weights = conv_linear_weights(model)
    with eval_mode(model):
        grads = torch.autograd.grad(F.cross_entropy(model(xf[order]), yf[order]), weights)
    for d, g in zip(d1, grads):
        torch.testing.assert_close(d, 0.2 * g)
    o1, o2 = adversarial_directions(model, x, y, eta=0.2, seed=1, mean=MEAN, std=STD)
    dot = sum(float((a * b).sum()) for a, b in zip(o1, o2))
    assert abs(dot) < 1e-6 * sum(float((a * a).sum()) for a in o1)
    torch.testing.assert_close(sum((b * b).sum() for b in o2), sum((b * b).sum() for b in d2))


# ------------------------------------------------------------------------------------------- invariants
MEASURES = {
    "m_sharpness": lambda m, x, y: m_sharpness(m, x, y, m=20, method="samson", steps=2, seed=0, mean=MEAN, std=STD),
    "keskar": lambda m, x, y: keskar_sharpness(m, x, y, maxiter=2, subspace_dim=3, mean=MEAN, std=STD),
    "hessian": lambda m, x, y: hessian_max_eigenvalue(m, x, y, iters=3, mean=MEAN, std=STD),
    "landscape": lambda m, x, y: loss_landscape(m, x, y, resolution=3, draws=2, mean=MEAN, std=STD),
    "adversarial": lambda m, x, y: loss_landscape(m, x, y, kind="adversarial", resolution=3, mean=MEAN, std=STD),
}


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_measures_restore_weights_buffers_flags_grads_and_leave_the_global_rng(name):
    model, x, y = _setup()
    model.train()
    model[1].eval()                   # a mixed state must come back as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    MEASURES[name](model, x, y)
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == flags
    assert all(q.grad is None for q in model.parameters())


def test_seeded_results_repeat():
    model, x, y = _setup()
    a = loss_landscape(model, x, y, resolution=3, seed=4, mean=MEAN, std=STD)
    b = loss_landscape(model, x, y, resolution=3, seed=4, mean=MEAN, std=STD)
    assert a["loss"] == b["loss"]
    h1 = hessian_max_eigenvalue(model, x, y, iters=3, seed=2, mean=MEAN, std=STD)
    h2 = hessian_max_eigenvalue(model, x, y, iters=3, seed=2, mean=MEAN, std=STD)
    assert h1["iterates"] == h2["iterates"]


# ------------------------------------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
    model, x, y = _setup()
    kw = dict(mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="m=0"):
        m_sharpness(model, x, y, m=0, **kw)
    with pytest.raises(ValueError, match="m=41"):
        m_sharpness(model, x, y, m=41, **kw)
    with pytest.raises(ValueError, match="rho=-0.1"):
        m_sharpness(model, x, y, m=8, rho=-0.1, **kw)
    with pytest.raises(ValueError, match="p=0.5"):
        m_sharpness(model, x, y, m=8, p=0.5, **kw)
    with pytest.raises(ValueError, match="eps=0"):
        keskar_sharpness(model, x, y, eps=0, **kw)
    with pytest.raises(ValueError, match="eps=-0.001"):
        KeskarSpec(eps=-1e-3)
    with pytest.raises(ValueError, match="resolution=1"):
        loss_landscape(model, x, y, resolution=1, **kw)
    with pytest.raises(ValueError, match="span=0"):
        loss_landscape(model, x, y, span=0, **kw)
    with pytest.raises(ValueError, match="span=-1"):
        grid_coordinates(-1, 5)
    with pytest.raises(ValueError, match="m=0"):
        MSharpnessSpec(m=0)
    with pytest.raises(ValueError, match="resolution=1"):
        LandscapeSpec(resolution=1)
    with pytest.raises(ValueError, match="mean"):
        m_sharpness(model, x, y, m=8)                  # uint8 images without mean/std


def test_m_sharpness_refuses_x_and_y_of_different_lengths():
    # 8 inputs and 5 labels once ran silently on 4 samples (m checked against len(y) only)
    model, x, y = _setup()
    with pytest.raises(ValueError, match="8 and 5"):
        m_sharpness(model, x[:8], y[:5], m=2, mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="5 and 8"):
        m_sharpness(model, x[:5], y[:8], m=2, mean=MEAN, std=STD)


# ------------------------------------------------------------------------------------------- specs
def test_each_spec_computes_its_measure_on_its_data_and_is_keyed_by_its_settings():
    from samlab.runs import run_key
    from samlab.sharpness._common import select_samples

    model = _trained_bn(_tiny_cnn(), torch.randn(16, 3, 8, 8))
    data = _data()
    spec = MSharpnessSpec(method="sam", m=10, max_samples=30)
    assert spec.rho == 0.05 and run_key(spec) == run_key(MSharpnessSpec(method="sam", rho=0.05, m=10, max_samples=30))
    assert run_key(MSharpnessSpec(method="sam", m=10, max_samples=20)) != run_key(spec)
    got = spec.compute(model, data)
    x, y = select_samples(*data.split("train"), 30)
    direct = m_sharpness(model, x, y, mean=data.mean, std=data.std, **spec.settings())
    assert got["n_batches"] == 3 and direct["m_sharpness"] == got["m_sharpness"]
    assert KeskarSpec(maxiter=1, max_samples=12).compute(model, data)["samples"] == 12
    assert HessianSpec(iters=2).compute(model, data)["iterations"] >= 1
    assert LandscapeSpec(resolution=3, dims=1).compute(model, data)["resolution"] == 3


# ------------------------------------------------------------------------------------------- plots, imports
def test_landscape_figures_have_labelled_axes():
    from matplotlib.figure import Figure

    from samlab.plots import plot_landscape_1d, plot_landscape_contour, plot_landscape_surface

    model, x, y = _setup()
    two = loss_landscape(model, x, y, resolution=3, mean=MEAN, std=STD)
    one = loss_landscape(model, x, y, dims=1, resolution=3, mean=MEAN, std=STD)
    for fig in (plot_landscape_contour([two, two], labels=["SGD", "SAM"]), plot_landscape_surface(two),
                plot_landscape_contour([two, two], shared_scale=False, log=True),
                plot_landscape_surface([two, two], shared_scale=False),
                plot_landscape_1d([one], labels=["SGD"])):
        assert isinstance(fig, Figure)
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    with pytest.raises(ValueError, match="2-D"):
        plot_landscape_contour(one)


def test_computation_does_not_import_plotting():
    code = "import sys, samlab.sharpness; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_measures_on_cuda_match_cpu():
    model, x, y = _setup()
    cpu = [m_sharpness(model, x, y, m=20, mean=MEAN, std=STD)["m_sharpness"],
           loss_landscape(model, x, y, resolution=3, mean=MEAN, std=STD)["loss"],
           hessian_max_eigenvalue(model, x, y, iters=3, mean=MEAN, std=STD)["iterates"]]
    model.cuda()
    gpu = [m_sharpness(model, x, y, m=20, mean=MEAN, std=STD)["m_sharpness"],
           loss_landscape(model, x, y, resolution=3, mean=MEAN, std=STD)["loss"],
           hessian_max_eigenvalue(model, x, y, iters=3, mean=MEAN, std=STD)["iterates"]]
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3)
    assert keskar_sharpness(model, x, y, maxiter=2, mean=MEAN, std=STD)["sharpness"] >= 0


# ------------------------------------------------------------------------------------------------ perturbation shares
def test_perturbation_shares_by_hand():
    from samlab.sharpness import PerturbationShareSpec, perturbation_shares

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)).eval()
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    grads = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), list(model.parameters()))
    params = list(model.parameters())
    # ASAM, T = |w| on matrices only: eps = rho T^2 g / ||T g||, so the weights' share of ||eps||^2 is
    # sum (w^2 g)^2 over matrices / (that + sum g^2 over vectors)
    w_part = sum(float(((p.detach() ** 2) * g).pow(2).sum()) for p, g in zip(params, grads) if p.ndim > 1)
    v_part = sum(float(g.pow(2).sum()) for p, g in zip(params, grads) if p.ndim == 1)
    out = perturbation_shares(model, x, y, m=16, method="asam", rho=0.5)
    assert out["weight_share"] == pytest.approx(w_part / (w_part + v_part), rel=1e-5)
    assert out["other_share"] == pytest.approx(v_part / (w_part + v_part), rel=1e-5)
    sam = perturbation_shares(model, x, y, m=16, method="sam")         # T = 1: the gradient's own split
    gw = sum(float(g.pow(2).sum()) for p, g in zip(params, grads) if p.ndim > 1)
    assert sam["weight_share"] == pytest.approx(gw / (gw + v_part), rel=1e-5)
    only = perturbation_shares(model, x, y, m=16, method="asam", adaptive="weights_only")
    assert only["weight_share"] == pytest.approx(1.0)
    two = perturbation_shares(model, x, y, m=8, method="asam")
    assert two["n_batches"] == 2 and two["weight_share_min"] <= two["weight_share"] <= two["weight_share_max"]
    with pytest.raises(ValueError, match="m=32"):
        perturbation_shares(model, x, y, m=32)
    with pytest.raises(ValueError, match="adaptive"):
        PerturbationShareSpec(adaptive="nope")
