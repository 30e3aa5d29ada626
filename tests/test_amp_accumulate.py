"""Gradient accumulation, m-sharpness ascent groups and mixed precision (samlab.train.precision), on CPU."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from samlab.optim import SAM
from samlab.runs import RunStore
from samlab.runs.keys import key_dict
from samlab.train import TrainConfig, train
from samlab.train.precision import StepRunner, split_plan

B = 16


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 4))  # no BatchNorm


def batches(n: int = 3):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(B, 3, 4, 4, generator=g), torch.randint(0, 4, (B,), generator=g)) for _ in range(n)]


def make_opt(model, kind):
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return SAM(model.parameters(), torch.optim.SGD, method="sam", rho=0.05, lr=0.1, momentum=0.9, model=model)


def plain_steps(kind):
    model = net()
    opt = make_opt(model, kind)
    for x, y in batches():
        if kind == "sgd":
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        else:
            def closure():
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss
            opt.step(closure)
    return model


def runner_steps(kind, **kw):
    model = net()
    opt = make_opt(model, kind)
    runner = StepRunner(model, opt, batch_size=B, **kw)
    for x, y in batches():
        runner.step(x, y)
    return model, runner


def assert_close(a: nn.Module, b: nn.Module, atol=1e-6):
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=atol, rtol=0), (n, (p - q).abs().max().item())


@pytest.mark.parametrize("kind", ["sgd", "sam"])
@pytest.mark.parametrize("k", [2, 4])
def test_accumulation_equals_one_batch(kind, k):
    """K micro-batches of B/K give the weights of one batch of B (float tolerance 1e-6, 3 steps, momentum)."""
    model, _ = runner_steps(kind, accumulate=k)
    assert_close(model, plain_steps(kind))


def test_ascent_groups_are_m_sharpness():
    """ascent_splits=2 (one process) = each half's eps from its own gradient, descent gradients averaged."""
    ref = net()
    rho, lr = 0.05, 0.1
    for x, y in batches():
        grads = []
        for xs, ys in ((x[:8], y[:8]), (x[8:], y[8:])):
            params = list(ref.parameters())
            g = torch.autograd.grad(F.cross_entropy(ref(xs), ys), params)
            norm = torch.sqrt(sum((gi ** 2).sum() for gi in g))
            with torch.no_grad():
                eps = [rho * gi / norm for gi in g]
                for p, e in zip(params, eps):
                    p.add_(e)
            grads.append(torch.autograd.grad(F.cross_entropy(ref(xs), ys), params))
            with torch.no_grad():
                for p, e in zip(params, eps):
                    p.sub_(e)
        with torch.no_grad():
            for p, g1, g2 in zip(ref.parameters(), *grads):
                p.sub_(lr * (g1 + g2) / 2)
    model = net()
    opt = SAM(model.parameters(), torch.optim.SGD, method="sam", rho=rho, lr=lr, model=model)
    runner = StepRunner(model, opt, batch_size=B, ascent_splits=2, accumulate=2)
    for x, y in batches():
        runner.step(x, y)
    assert_close(model, ref, atol=1e-6)


def test_bf16_close_to_fp32():
    """bf16 autocast: each weight tensor's total change over 3 SAM steps within 5% (relative L2) of fp32."""
    base = net()
    fp32 = plain_steps("sam")
    bf16, _ = runner_steps("sam", amp="bf16")
    for p0, a, b in zip(base.parameters(), fp32.parameters(), bf16.parameters()):
        da, db = a - p0, b - p0
        assert ((da - db).norm() / da.norm()).item() < 0.05


class Blow(nn.Module):
    """Returns inf logits while ``armed`` (to force an fp16 overflow in one chosen pass)."""

    def __init__(self):
        super().__init__()
        self.armed = False

    def forward(self, x):
        return x * float("inf") if self.armed else x


@pytest.mark.parametrize("which", ["ascent", "descent"])
def test_fp16_overflow_skips_the_whole_step(which):
    """An overflow in either pass: w unchanged (restored from w + eps), no momentum, the scale backs off once."""
    model = net()
    blow = Blow()
    wrapped = nn.Sequential(model, blow)
    opt = SAM(model.parameters(), torch.optim.SGD, method="sam", rho=0.05, lr=0.1, momentum=0.9, model=model)
    runner = StepRunner(wrapped, opt, batch_size=B, amp="fp16", accumulate=2)
    x, y = batches(1)[0]
    before = copy.deepcopy(model.state_dict())
    scale = runner.scaler.get_scale()
    if which == "ascent":
        blow.armed = True
    else:
        first = opt.first_step

        def arm(*a, **k):
            first(*a, **k)
            blow.armed = True
        opt.first_step = arm
    runner.step(x, y)
    blow.armed = False
    assert runner.skipped == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not opt.base_optimizer.state  # no momentum buffer: the base optimizer never stepped
    assert runner.scaler.get_scale() == scale * 0.5
    opt.first_step = SAM.first_step.__get__(opt)
    runner.step(x, y)  # the next step goes through
    assert runner.skipped == 1
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("kw, match", [
    (dict(accumulate=0), r"accumulate=0"),
    (dict(accumulate=3), r"batch_size=32 does not split evenly.*3 micro-batch"),
    (dict(method="sam", ascent_splits=3), r"batch_size=32 does not split evenly"),
    (dict(ascent_splits=2), r"ascent_splits=2 applies only to the sharpness-aware methods"),
    (dict(amp="fp8"), r"amp='fp8'.*'off'.*'bf16'.*'fp16'"),
    (dict(method="esam", accumulate=2), r"not supported with method 'esam'"),
])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(model="small_cnn", dataset="digits", batch_size=32, **kw)


def test_defaults_keep_keys():
    assert not {"amp", "accumulate", "ascent_splits"} & set(key_dict(TrainConfig()))
    assert split_plan(32, world=2, ascent_splits=2, accumulate=4) == (1, 4, 4)


def test_train_end_to_end_bf16_accumulate(tmp_path):
    """The real entry point with amp + accumulation trains, stores and resumes through the store."""
    cfg = TrainConfig(model="small_cnn", dataset="digits", method="sam", epochs=2, batch_size=32, accumulate=2,
                      amp="bf16", max_train_samples=64, max_test_samples=32, lr=0.05)
    store = RunStore(tmp_path)
    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(cfg, store=store, progress=False, device="cpu", callback=interrupt)
    assert store.status(cfg) == "partial"
    assert "runner" in store.load_checkpoint(cfg)  # the scaler's state travels with the checkpoint
    result = train(cfg, store=store, progress=False, device="cpu")
    assert result.finished and len(result.metrics) == 2
