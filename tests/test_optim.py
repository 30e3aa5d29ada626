"""samlab.optim.SAM: the step against hand-derived values, restore exactness, BatchNorm, resume, ESAM."""
from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch import nn

from samlab.optim import SAM, sample_loss_fn

T = torch.tensor


def quadratic_step(method, rho, **kw):
    """One SAM step on L(w) = 0.5 * sum(a * w^2) with SGD lr 1; returns (w_before, w_after, a)."""
    w = nn.Parameter(T([[1.0, -2.0]]))
    a = T([[1.0, 3.0]])
    opt = SAM([w], torch.optim.SGD, method=method, rho=rho, lr=1.0, **kw)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (a * w**2).sum()
        loss.backward()
        return loss

    before = w.detach().clone()
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(0.5 * (1 + 12))
    return before, w.detach().clone(), a


def test_sam_step_uses_the_gradient_at_w_plus_eps():
    # g = a w = [1, -6]; eps = 0.1 [1, -6] / sqrt(37); new w = w - a (w + eps)
    w, new, a = quadratic_step("sam", 0.1)
    eps = 0.1 * T([[1.0, -6.0]]) / math.sqrt(37)
    torch.testing.assert_close(new, w - a * (w + eps))


def test_asam_step_by_hand():
    # T = |w| + 0.01 = [1.01, 2.01]; Tg = [1.01, -12.06]; eps = rho T Tg / ||Tg||
    w, new, a = quadratic_step("asam", 0.5)
    t = T([[1.01, 2.01]])
    tg = t * T([[1.0, -6.0]])
    eps = 0.5 * t * tg / tg.norm()
    torch.testing.assert_close(new, w - a * (w + eps))


def test_samson_inf_step_by_hand():
    # ||W||_inf = 2 -> T = [0.5, 1]; Tg = [0.5, -6]; eps = rho T Tg / ||Tg||
    w, new, a = quadratic_step("samson", 0.5, p=float("inf"))
    t = T([[0.5, 1.0]])
    tg = t * T([[1.0, -6.0]])
    eps = 0.5 * t * tg / tg.norm()
    torch.testing.assert_close(new, w - a * (w + eps))


def test_paper_defaults():
    w = [nn.Parameter(torch.ones(2, 2))]
    assert SAM(w, torch.optim.SGD, lr=0.1).param_groups[0]["rho"] == 0.05
    g = SAM(w, torch.optim.SGD, method="asam", lr=0.1).param_groups[0]
    assert (g["rho"], g["eta"]) == (0.5, 0.01)
    g = SAM(w, torch.optim.SGD, method="samson", lr=0.1).param_groups[0]
    assert (g["rho"], g["eta"]) == (0.5, 0.0)


def make_net(bn=True, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 8)] + ([nn.BatchNorm1d(8)] if bn else []) + [nn.ReLU(), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def batch(seed=1, n=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def ce_closure(model, opt, x, y):
    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("method", ["sam", "asam", "samson"])
def test_restore_is_exact(method):
    model = make_net()
    before = copy.deepcopy(model.state_dict())
    opt = SAM(model.parameters(), torch.optim.SGD, method=method, rho=0.5, lr=0.0)
    x, y = batch()
    opt.step(ce_closure(model, opt, x, y))
    for k, v in model.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, before[k]), k


def test_batchnorm_statistics_come_from_the_first_pass_only():
    model = make_net()
    ref = copy.deepcopy(model)
    x, y = batch()
    opt = SAM(model.parameters(), torch.optim.SGD, method="samson", rho=2.0, lr=0.1, model=model)
    opt.step(ce_closure(model, opt, x, y))
    ref(x)  # one training-mode forward at w
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(model[1], name), getattr(ref[1], name)), name


def test_batchnorm_statistics_with_sds_three_passes():
    model = make_net()
    ref = copy.deepcopy(model)
    x, y = batch()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.5, gamma=0.5, lr=0.1, model=model)
    opt.step(sample_loss=sample_loss_fn(model, x, y))
    ref(x)
    assert torch.equal(model[1].running_mean, ref[1].running_mean)
    assert torch.equal(model[1].num_batches_tracked, ref[1].num_batches_tracked)


@pytest.mark.parametrize("base, kw", [(torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=5e-4)),
                                      (torch.optim.Adam, dict(lr=0.01))])
def test_rho_zero_is_exactly_the_base_optimizer(base, kw):
    model, ref = make_net(), make_net()
    opt = SAM(model.parameters(), base, rho=0.0, **kw)
    ref_opt = base(ref.parameters(), **kw)
    for s in range(3):
        x, y = batch(s)
        opt.step(ce_closure(model, opt, x, y))
        ce_closure(ref, ref_opt, x, y)()
        ref_opt.step()
    for (k, v), (_, r) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(v, r), k


def test_zero_gradient_gives_no_nan():
    w = nn.Parameter(torch.ones(2, 2))
    for method in ("sam", "asam", "samson"):
        opt = SAM([w], torch.optim.SGD, method=method, lr=0.1)

        def closure():
            opt.zero_grad()
            loss = (w * 0).sum()
            loss.backward()
            return loss
        opt.step(closure)
        assert torch.equal(w.detach(), torch.ones(2, 2))


def run_steps(model, opt, steps, start=0, sds=False):
    for s in range(start, start + steps):
        x, y = batch(s)
        if sds:
            opt.step(sample_loss=sample_loss_fn(model, x, y))
        else:
            opt.step(ce_closure(model, opt, x, y))


@pytest.mark.parametrize("base, kw", [(torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
                                      (torch.optim.Adam, dict(lr=0.01))])
def test_state_dict_resume_is_bit_for_bit(base, kw):
    opts = dict(method="asam", rho=0.5, beta=0.6, gamma=0.5, clip=0.8)
    model = make_net()
    opt = SAM(model.parameters(), base, generator=torch.Generator().manual_seed(3), **opts, **kw)
    run_steps(model, opt, 6, sds=True)

    model2 = make_net()
    opt2 = SAM(model2.parameters(), base, generator=torch.Generator().manual_seed(3), **opts, **kw)
    run_steps(model2, opt2, 3, sds=True)
    buf = io.BytesIO()
    torch.save({"model": model2.state_dict(), "opt": opt2.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    model3 = make_net(seed=99)
    opt3 = SAM(model3.parameters(), base, generator=torch.Generator().manual_seed(1234), **opts, **kw)
    model3.load_state_dict(saved["model"])
    opt3.load_state_dict(saved["opt"])
    assert opt3.state, "the base optimizer's state (momentum / Adam moments) must be restored"
    run_steps(model3, opt3, 3, start=3, sds=True)
    for (k, v), (_, r) in zip(model.state_dict().items(), model3.state_dict().items()):
        assert torch.equal(v, r), k


def test_beta_gamma_one_equals_plain_sam():
    a, b = make_net(), make_net()
    opt_a = SAM(a.parameters(), torch.optim.SGD, method="samson", lr=0.1, momentum=0.9)
    opt_b = SAM(b.parameters(), torch.optim.SGD, method="samson", lr=0.1, momentum=0.9, beta=1.0, gamma=1.0)
    run_steps(a, opt_a, 3)
    run_steps(b, opt_b, 3, sds=True)
    for (k, v), (_, r) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(v, r, rtol=0, atol=1e-6, msg=k)


def test_sds_descends_on_exactly_the_top_samples():
    # L_i(w) = c_i * w with w a scalar; g = mean(c) = 2.75 > 0, so eps > 0 and the rise is eps * c_i:
    # gamma = 0.5 keeps ceil(0.5 * 4) = 2 samples, those with the largest c: indices {1, 2}.
    w = nn.Parameter(T([1.0]))
    c = T([1.0, 5.0, 3.0, 2.0])
    seen = []

    def sample_loss(indices=None):
        seen.append(None if indices is None else sorted(indices.tolist()))
        cc = c if indices is None else c[indices]
        return cc * w

    opt = SAM([w], torch.optim.SGD, rho=0.1, gamma=0.5, lr=1.0)
    loss = opt.step(sample_loss=sample_loss)
    assert seen == [None, None, [1, 2]]
    assert loss.item() == pytest.approx(2.75)
    # descent gradient = mean(c[1, 2]) = 4 -> w = 1 - 4
    assert w.item() == pytest.approx(-3.0)


def test_sds_rounds_up():
    w = nn.Parameter(T([1.0]))
    seen = []

    def sample_loss(indices=None):
        seen.append(indices)
        return (T([1.0, 2.0, 3.0]) if indices is None else T([1.0, 2.0, 3.0])[indices]) * w

    SAM([w], torch.optim.SGD, rho=0.1, gamma=0.5, lr=1.0).step(sample_loss=sample_loss)
    assert len(seen[-1]) == 2  # ceil(0.5 * 3)


def test_swp_leaves_out_whole_tensors_and_computes_no_gradient_for_them():
    model = make_net(bn=False)
    params = list(model.parameters())
    opt = SAM(params, torch.optim.SGD, rho=0.3, beta=0.5, lr=0.0, generator=torch.Generator().manual_seed(0))
    x, y = batch()
    with opt.ascent():
        nn.functional.cross_entropy(model(x), y).backward()
    mask = opt._swp_mask
    kept = [w for w in params if mask[w]]
    left = [w for w in params if not mask[w]]
    assert kept and left, "seed 0 should keep some tensors and leave some out"
    assert all(w.grad is None for w in left), "left-out tensors must compute no gradient"
    assert all(w.requires_grad for w in params), "requires_grad is restored after the ascent pass"
    grads = {w: w.grad.clone() for w in kept}
    before = [w.detach().clone() for w in params]
    opt.first_step()
    # eps = (rho / beta) g / ||g over kept tensors|| on kept tensors, exactly 0 elsewhere
    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    for w, b in zip(params, before):
        if w in grads:
            torch.testing.assert_close(w.detach() - b, 0.3 / 0.5 * grads[w] / norm)
        else:
            assert torch.equal(w.detach(), b)
    opt.second_step()


def test_swp_mask_frequency_matches_beta():
    params = [nn.Parameter(torch.ones(2, 2)) for _ in range(400)]
    opt = SAM(params, torch.optim.SGD, beta=0.6, lr=0.1, generator=torch.Generator().manual_seed(0))
    with opt.ascent():
        pass
    frac = sum(opt._swp_mask.values()) / len(params)
    assert abs(frac - 0.6) < 0.08


def test_clip_clamps_weights_not_biases():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.fill_(5.0)
        lin.bias.fill_(5.0)
    opt = SAM(lin.parameters(), torch.optim.SGD, rho=0.05, lr=0.0, clip=0.2)
    x = torch.randn(4, 3)
    opt.step(sample_loss=lambda idx=None: (lin(x if idx is None else x[idx]) ** 2).sum(1))
    assert lin.weight.abs().max().item() == pytest.approx(0.2)
    assert torch.all(lin.bias == 5.0)


def test_asam_sharpness_invariant_to_relu_rescaling_sam_is_not():
    """Scale a hidden ReLU neuron's incoming weights by tau and outgoing by 1/tau (no biases)."""
    torch.manual_seed(0)
    W, V = torch.randn(5, 3), torch.randn(2, 5)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))

    def sharpness(W, V, method):
        ps = [W.clone().requires_grad_(), V.clone().requires_grad_()]
        loss = nn.functional.cross_entropy(torch.relu(x @ ps[0].T) @ ps[1].T, y)
        grads = torch.autograd.grad(loss, ps)
        from samlab.perturbation import worst_case_perturbation
        eps = worst_case_perturbation(ps, grads, method=method, rho=0.5, eta=0.0)
        with torch.no_grad():
            pert = nn.functional.cross_entropy(torch.relu(x @ (ps[0] + eps[0]).T) @ (ps[1] + eps[1]).T, y)
        return (pert - loss).item()

    tau = torch.tensor([0.2, 3.0, 5.0, 0.3, 1.0])
    W2, V2 = W * tau[:, None], V / tau[None, :]
    assert sharpness(W, V, "asam") == pytest.approx(sharpness(W2, V2, "asam"), rel=1e-4)
    assert sharpness(W, V, "sam") != pytest.approx(sharpness(W2, V2, "sam"), rel=0.1)


@pytest.mark.parametrize("kwargs, name", [
    (dict(method="adamw"), "method"),
    (dict(rho=-1.0), "rho"),
    (dict(method="samson", p=0.9), "p"),
    (dict(beta=0.0), "beta"),
    (dict(beta=1.5), "beta"),
    (dict(gamma=0.0), "gamma"),
    (dict(gamma=2.0), "gamma"),
    (dict(clip=0.0), "clip"),
    (dict(clip=-0.1), "clip"),
    (dict(adaptive_params="biases"), "adaptive_params"),
])
def test_bad_input_raises_valueerror_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SAM([nn.Parameter(torch.ones(2))], torch.optim.SGD, lr=0.1, **kwargs)


def test_sds_without_per_sample_losses_is_refused():
    w = nn.Parameter(torch.ones(2))
    opt = SAM([w], torch.optim.SGD, lr=0.1, gamma=0.5)
    with pytest.raises(ValueError, match="gamma"):
        opt.step(lambda: (w**2).sum())
    with pytest.raises(ValueError, match=r"\[B\]"):
        opt.step(sample_loss=lambda idx=None: (w**2).sum())


def test_base_optimizer_must_be_a_class():
    with pytest.raises(ValueError, match="base_optimizer"):
        SAM([nn.Parameter(torch.ones(2))], torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1))


def test_works_with_an_lr_scheduler_and_exception_restores_w():
    model = make_net()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.5, lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    run_steps(model, opt, 1)
    sched.step()
    assert opt.param_groups[0]["lr"] < 0.1 and opt.base_optimizer.param_groups[0]["lr"] < 0.1
    before = [p.detach().clone() for p in model.parameters()]
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return ce_closure(model, opt, *batch())()

    with pytest.raises(KeyboardInterrupt):
        opt.step(closure)
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p.detach(), b)


def test_swp_leaving_out_every_tensor_is_a_plain_step():
    """With beta small, a draw can leave out every tensor: eps = 0, and backward must still work."""
    w = nn.Parameter(T([[1.0, 2.0]]))
    gen = torch.Generator().manual_seed(0)
    while True:  # find a generator state whose next draw leaves the only tensor out
        state = gen.get_state()
        if torch.rand((), generator=gen) >= 0.05:
            gen.set_state(state)
            break
    opt = SAM([w], torch.optim.SGD, rho=0.5, beta=0.05, lr=1.0, generator=gen)
    x = T([1.0, 3.0])
    loss = opt.step(sample_loss=lambda idx=None: (x if idx is None else x[idx]) * (w ** 2).sum() / 5)
    assert loss.item() == pytest.approx(2.0)
    # plain gradient step at w: grad = mean(x) * 2 w / 5 = 2 * 2 w / 5
    torch.testing.assert_close(w.detach(), T([[1.0 - 0.8, 2.0 - 1.6]]))


# ------------------------------------------------------------------------------- randomness: one rule
def swp_run(**kw):
    model = make_net(bn=False)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.3, beta=0.5, lr=0.1, **kw)
    run_steps(model, opt, 3)
    return model


def test_swp_never_touches_the_global_rng():
    torch.manual_seed(123)
    model = nn.Linear(4, 3)            # built (global RNG) before taking the state
    state = torch.get_rng_state()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.3, beta=0.5, lr=0.1)
    x, y = batch()
    for _ in range(3):
        opt.step(ce_closure(model, opt, x, y))
    assert torch.equal(torch.get_rng_state(), state)


def test_seed_gives_the_same_run_as_an_explicit_generator():
    a = swp_run(seed=5)
    b = swp_run(generator=torch.Generator().manual_seed(5))
    c = swp_run()                      # seed 0 by default: deterministic too
    d = swp_run()
    for (k, v), (_, r), (_, u), (_, t) in zip(a.state_dict().items(), b.state_dict().items(),
                                              c.state_dict().items(), d.state_dict().items()):
        assert torch.equal(v, r), k
        assert torch.equal(u, t), k


# ------------------------------------------------------------------- ESAM SWP: paper vs official scaling
def swp_mean_perturbation(normalization, draws=4000):
    """Mean eps over SWP draws for L = <c_a, a> + <c_b, b>: fixed gradients g_a = [[3, 4]], g_b = [12]."""
    a, b = nn.Parameter(torch.zeros(1, 2)), nn.Parameter(torch.zeros(1))
    c_a, c_b = T([[3.0, 4.0]]), T([12.0])
    opt = SAM([a, b], torch.optim.SGD, rho=1.0, beta=0.5, lr=0.0, swp_normalization=normalization, seed=0)
    total_a, total_b = torch.zeros(1, 2), torch.zeros(1)
    for _ in range(draws):
        with opt.ascent():
            ((c_a * a).sum() + (c_b * b).sum()).backward()
        opt.first_step(zero_grad=True)
        total_a += a.detach()
        total_b += b.detach()
        opt.second_step()              # lr 0: back to w = 0 exactly
    assert torch.equal(a.detach(), torch.zeros(1, 2)) and torch.equal(b.detach(), torch.zeros(1))
    return total_a / draws, total_b / draws


def test_swp_paper_normalization_is_unbiased():
    # ESAM eq. 6: eps = m eps* / beta with eps* = rho g / ||g|| over ALL tensors (||g|| = 13): E[eps] = eps*
    mean_a, mean_b = swp_mean_perturbation("paper")
    torch.testing.assert_close(mean_a, T([[3 / 13, 4 / 13]]), rtol=0, atol=0.04)
    torch.testing.assert_close(mean_b, T([12 / 13]), rtol=0, atol=0.04)


def test_swp_official_normalization_expectation_by_hand():
    # official: eps_n = (rho / beta) m_n g_n / sqrt(sum_k m_k ||g_k||^2), ||g_a||^2 = 25, ||g_b||^2 = 144:
    # E[eps_a] = rho g_a [beta / 13 + (1 - beta) / 5] = [3, 4] * 0.138462,
    # E[eps_b] = rho g_b [beta / 13 + (1 - beta) / 12] = 12 * 0.0384615 + 0.5
    mean_a, mean_b = swp_mean_perturbation("official")
    torch.testing.assert_close(mean_a, T([[3.0, 4.0]]) * (0.5 / 13 + 0.5 / 5), rtol=0, atol=0.04)
    torch.testing.assert_close(mean_b, T([12 * 0.5 / 13 + 0.5]), rtol=0, atol=0.04)


# -------------------------------------------------------------------------------------- adaptive rules
def linear_bn(grads=True):
    """Linear(1 -> 1) W = [[2]], bias 5; BatchNorm1d(1) scale 3, shift 0; every gradient set to 1 by hand."""
    model = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[0].bias.fill_(5.0)
        model[1].weight.fill_(3.0)
    for w in model.parameters():
        w.grad = torch.ones_like(w)
    return model


def moved(model, opt):
    before = [w.detach().clone() for w in model.parameters()]
    opt.first_step()
    out = [float((w.detach() - b).sum()) for w, b in zip(model.parameters(), before)]
    opt.second_step()
    return out


def test_named_weight_from_named_parameters_or_from_model():
    # T: W 2, bn.weight 3, biases 1 -> T g = [2, 1, 3, 1], norm sqrt(15); eps = T^2 g / sqrt 15 = [4, 1, 9, 1] / sqrt 15
    expected = [v / math.sqrt(15) for v in (4.0, 1.0, 9.0, 1.0)]
    m = linear_bn()
    opt = SAM(m.named_parameters(), torch.optim.SGD, method="asam", rho=1.0, eta=0.0, lr=0.0,
              adaptive_params="named_weight")
    assert moved(m, opt) == pytest.approx(expected)
    m = linear_bn()
    opt = SAM(m.parameters(), torch.optim.SGD, method="asam", rho=1.0, eta=0.0, lr=0.0,
              adaptive_params="named_weight", model=m)
    assert moved(m, opt) == pytest.approx(expected)
    # the default for ASAM, "weights": T = 2 on W only -> T g = [2, 1, 1, 1] -> eps = [4, 1, 1, 1] / sqrt 7
    m = linear_bn()
    opt = SAM(m.parameters(), torch.optim.SGD, method="asam", rho=1.0, eta=0.0, lr=0.0)
    assert moved(m, opt) == pytest.approx([v / math.sqrt(7) for v in (4.0, 1.0, 1.0, 1.0)])


def test_named_weight_without_names_is_refused():
    m = linear_bn()
    with pytest.raises(ValueError, match="names"):
        SAM(m.parameters(), torch.optim.SGD, method="asam", lr=0.1, adaptive_params="named_weight")


def test_samson_default_perturbs_only_the_weights():
    # weights_only: W = [[2]] -> T = |W| / ||W||_2 = 1, eps_W = rho = 0.5; bias and BN untouched
    m = linear_bn()
    opt = SAM(m.parameters(), torch.optim.SGD, method="samson", lr=0.0)
    assert opt.param_groups[0]["adaptive_params"] == "weights_only"
    assert moved(m, opt) == pytest.approx([0.5, 0.0, 0.0, 0.0])


def test_first_step_twice_does_not_stack():
    m = linear_bn()
    w0 = m[0].weight.detach().clone()
    opt = SAM(m.parameters(), torch.optim.SGD, method="samson", lr=0.0)
    opt.first_step()
    opt.first_step()
    assert m[0].weight.item() == pytest.approx(w0.item() + 0.5)
    opt.second_step()
    assert torch.equal(m[0].weight.detach(), w0)


# -------------------------------------------------------------------------- clip: one code path (hooks)
def test_sam_rho_zero_with_clip_equals_sgd_with_clip_weights():
    from samlab.weights import clip_weights
    model, ref = make_net(), make_net()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.0, clip=0.05, lr=0.5, momentum=0.9, model=model)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5, momentum=0.9)
    clip_weights(ref_opt, [ref[0].weight, ref[3].weight], 0.05)
    for s in range(3):
        x, y = batch(s)
        opt.step(ce_closure(model, opt, x, y))
        ce_closure(ref, ref_opt, x, y)()
        ref_opt.step()
    for (k, v), (_, r) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(v, r), k
    assert model[0].weight.abs().max().item() == pytest.approx(0.05)


def test_clip_with_model_acts_on_conv_linear_weights_only():
    model = nn.ModuleDict({"emb": nn.Embedding(3, 2), "lin": nn.Linear(2, 2)})
    with torch.no_grad():
        for w in model.parameters():
            w.fill_(5.0)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.0, clip=0.2, lr=0.0, model=model)
    for w in model.parameters():
        w.grad = torch.zeros_like(w)
    opt.base_optimizer.step()
    assert torch.all(model["lin"].weight == 0.2)
    assert torch.all(model["emb"].weight == 5.0) and torch.all(model["lin"].bias == 5.0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(swp_normalization="unbiased"), "swp_normalization"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(model="net"), "model"),
    (dict(generator=3), "generator"),
])
def test_new_options_are_validated(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SAM([nn.Parameter(torch.ones(2))], torch.optim.SGD, lr=0.1, **kwargs)


def test_swp_paper_computes_every_gradient_official_does_not():
    for normalization, all_grads in (("paper", True), ("official", False)):
        model = make_net(bn=False)
        params = list(model.parameters())
        opt = SAM(params, torch.optim.SGD, rho=0.3, beta=0.5, lr=0.0, swp_normalization=normalization, seed=0)
        x, y = batch()
        with opt.ascent():
            nn.functional.cross_entropy(model(x), y).backward()
        assert 0 < sum(opt._swp_mask.values()) < len(params)
        assert all(w.grad is not None for w in params) == all_grads, normalization


# ------------------------------------------------------------------- one perturbation kernel, one clip hook
def test_first_step_moves_w_by_exactly_what_worst_case_perturbation_returns(monkeypatch):
    """SAM's eps is one call of the kernel (groups with their own geometry, SWP's mask), applied bit for bit."""
    import samlab.optim as optim_module

    calls = []
    kernel = optim_module.worst_case_perturbation

    def spy(*args, **kwargs):
        calls.append(kernel(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(optim_module, "worst_case_perturbation", spy)
    model = make_net(bn=False)
    ps = list(model.parameters())
    opt = SAM([dict(params=ps[:2], method="asam"), dict(params=ps[2:], method="samson", p=float("inf"))],
              torch.optim.SGD, lr=0.1, beta=0.5, swp_normalization="paper", seed=0)
    x, y = batch()
    with opt.ascent():
        nn.functional.cross_entropy(model(x), y).backward()
    before = [w.detach().clone() for w in ps]
    opt.first_step()
    (eps,) = calls
    assert any(e is None for e in eps) and any(e is not None for e in eps)     # the mask left some out
    for w, b, e in zip(ps, before, eps):
        assert torch.equal(w.detach(), b if e is None else b + e)
    opt.second_step()


def test_sam_clip_is_the_clip_weights_hook(monkeypatch):
    """SAM(clip=c) registers samlab.weights.clip_weights on its base optimizer (the trainer's one code path)."""
    import samlab.optim as optim_module
    from samlab.weights import clip_weights

    seen = []

    def spy(optimizer, params, c):
        seen.append((optimizer, list(params), c))
        return clip_weights(optimizer, params, c)

    monkeypatch.setattr(optim_module, "clip_weights", spy)
    model = make_net()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.5, clip=0.05, lr=0.5, model=model)
    ((optimizer, params, c),) = seen
    assert optimizer is opt.base_optimizer and c == 0.05
    assert [id(w) for w in params] == [id(model[0].weight), id(model[3].weight)]
    opt.step(ce_closure(model, opt, *batch()))
    assert model[0].weight.abs().max().item() == pytest.approx(0.05)
