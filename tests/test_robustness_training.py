"""Training for robustness (SAMSON sec. 6.1): additive-noise training (eq. 9), +-alpha std clipping, clipping to
[-c, c], with every method; hand-derived updates on a one-layer model; resume; bad input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from samlab import train as T
from samlab.optim import SAM
from samlab.runs import RunStore, run_key
from samlab.train import TrainConfig
from samlab.train.weight_noise import AdditiveWeightNoise, additive_noise_std, draw_additive_noise
from samlab.weights import clip_weights_std, conv_linear_weights

ALL_METHODS = [dict(method="sgd"), dict(method="sam"), dict(method="asam"), dict(method="samson", p=2.0),
               dict(method="samson", p=math.inf), dict(method="esam")]
IDS = ["sgd", "sam", "asam", "samson2", "samsoninf", "esam"]


def tiny(**kw) -> TrainConfig:
    base = dict(model="small_cnn", dataset="digits", epochs=3, batch_size=32, max_train_samples=96,
                max_test_samples=64, lr=0.05, schedule="cosine", augment=False)
    base.update(kw)
    return TrainConfig(**base)


def one_layer(seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(2, 3, generator=g))
        layer.bias.copy_(torch.randn(2, generator=g))
    x = torch.randn(5, 3, generator=g)
    y = torch.tensor([0, 1, 1, 0, 1])
    return layer, x, y


def ce_grads(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy gradients of a linear layer by hand: dL/dlogits = (softmax - onehot) / B."""
    logits = x @ w.T + b
    d = (torch.softmax(logits, 1) - F.one_hot(y, 2).to(logits.dtype)) / len(y)
    return d.T @ x, d.sum(0)


# ------------------------------------------------------------------------------------------------ eq. 9
def test_sigma_n_by_hand():
    w = torch.tensor([[0.5, -2.0], [1.0, 0.25]])
    assert additive_noise_std(w) == pytest.approx(2.0 * 0.94 / 25)  # W_max = 2 -> 0.0752
    assert additive_noise_std(w, sigma_g=0.5, g_max=10.0) == pytest.approx(0.1)
    big = torch.zeros(200_000)
    big[0] = -1.0  # W_max = 1: the noise std is 0.94 / 25 = 0.0376
    gen = torch.Generator().manual_seed(3)
    (n,) = draw_additive_noise([big], 0.94, 25.0, gen)
    assert n.std().item() == pytest.approx(0.0376, rel=0.01) and abs(n.mean().item()) < 3e-4


def test_noise_in_forward_update_on_clean_weights_sgd():
    """One SGD step: W1 = W0 - lr * dL/dW at W0 + N, with N the step's draw (reproduced from the generator)."""
    layer, x, y = one_layer()
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    noise = AdditiveWeightNoise(layer, 0.94, 25.0, seed=7)
    (n,) = draw_additive_noise([w0], 0.94, 25.0, torch.Generator().manual_seed(7))
    assert n.abs().max() > 0
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    T.train_epoch(layer, opt, [(x, y)], 1, torch.device("cpu"), None, weight_noise=noise)
    gw, gb = ce_grads(w0 + n, b0, x, y)
    torch.testing.assert_close(layer.weight.detach(), w0 - 0.5 * gw)
    torch.testing.assert_close(layer.bias.detach(), b0 - 0.5 * gb)
    gw_clean, _ = ce_grads(w0, b0, x, y)
    assert not torch.allclose(layer.weight.detach(), w0 - 0.5 * gw_clean)  # the noise mattered


def test_noise_same_draw_for_both_sam_passes():
    """SAM + noise: ascent at W0 + N, eps from that gradient, descent at W0 + eps + N (same N), update W0."""
    layer, x, y = one_layer(1)
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    noise = AdditiveWeightNoise(layer, 0.94, 25.0, seed=11)
    (n,) = draw_additive_noise([w0], 0.94, 25.0, torch.Generator().manual_seed(11))
    rho, lr = 0.3, 0.5
    opt = SAM(layer.parameters(), torch.optim.SGD, method="sam", rho=rho, lr=lr, model=layer)
    T.train_epoch(layer, opt, [(x, y)], 1, torch.device("cpu"), None, weight_noise=noise)
    g1w, g1b = ce_grads(w0 + n, b0, x, y)
    norm = torch.sqrt((g1w ** 2).sum() + (g1b ** 2).sum())
    ew, eb = rho * g1w / norm, rho * g1b / norm
    g2w, g2b = ce_grads(w0 + ew + n, b0 + eb, x, y)
    torch.testing.assert_close(layer.weight.detach(), w0 - lr * g2w)
    torch.testing.assert_close(layer.bias.detach(), b0 - lr * g2b)


def test_std_clipping_after_the_step():
    layer, x, y = one_layer(2)
    opt = torch.optim.SGD(layer.parameters(), lr=5.0)
    clip_weights_std(opt, [layer.weight], 0.5)
    opt.zero_grad()
    F.cross_entropy(layer(x), y).backward()
    expected = layer.weight.detach() - 5.0 * layer.weight.grad
    opt.step()
    bound = 0.5 * expected.std()
    torch.testing.assert_close(layer.weight.detach(), expected.clamp(-bound, bound))
    assert (layer.weight.detach().abs() < expected.abs()).any()  # something was clipped


@pytest.mark.parametrize("method_kw", ALL_METHODS, ids=IDS)
def test_constraints_apply_with_every_method(method_kw):
    """clip c and +-alpha std clipping act after a large step with every method (the trainer's optimizer).

    With clip c every conv/linear weight lies in [-c, c]; with +-alpha std (bound from the weights before the
    clamp, checked by hand in test_std_clipping_after_the_step) each tensor is saturated: several entries sit at
    exactly +-max|w|, which an unclipped step with lr = 2 never produces."""
    from samlab.models import create_model

    torch.manual_seed(0)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    for kw in (dict(clip=0.05), dict(clip_std_alpha=0.5, noise_sigma_g=0.94)):
        cfg = tiny(lr=2.0, **method_kw, **kw)
        model = create_model("small_cnn", num_classes=10, seed=0)
        opt = T.make_optimizer(cfg, model)
        noise = T.make_weight_noise(cfg, model, torch.device("cpu"))
        T.train_epoch(model, opt, [(x, y)], 1, torch.device("cpu"), None, weight_noise=noise)
        for w in conv_linear_weights(model):
            a = w.detach().abs()
            if "clip" in kw:
                assert a.max().item() <= torch.tensor(kw["clip"]).item(), (kw, w.shape)  # float32 c
            else:
                assert (a == a.max()).sum().item() >= 2, (kw, w.shape)


# ------------------------------------------------------------------------------------------------ trainer
def test_keys_and_labels():
    old = tiny(method="sam")
    assert run_key(old) == run_key(tiny(method="sam", noise_g_max=25.0))  # defaults stay out of the key
    noisy = tiny(method="sam", noise_sigma_g=0.94, clip_std_alpha=2.0)
    assert run_key(noisy) != run_key(old)
    assert noisy.label == "SAM + noise (±2·std)"
    assert tiny(clip_std_alpha=1.5).label == "SGD + clip ±1.5·std"
    assert tiny(clip=0.15).label == "SGD + clip 0.15"
    assert tiny(noise_sigma_g=0.5, noise_g_max=10).label == "SGD + noise σG=0.5/10"


@pytest.mark.parametrize("kw, name", [
    (dict(noise_sigma_g=-0.1), "noise_sigma_g"), (dict(noise_sigma_g=0.94, noise_g_max=0), "noise_g_max"),
    (dict(noise_sigma_g=0.94, noise_g_max=-3), "noise_g_max"), (dict(clip_std_alpha=0), "clip_std_alpha"),
    (dict(clip_std_alpha=-1.0), "clip_std_alpha"), (dict(noise_g_max=30.0), "noise_g_max"),
    (dict(clip=0.1, clip_std_alpha=2.0), "clip_std_alpha"), (dict(noise_sigma_g=math.nan), "noise_sigma_g"),
    (dict(noise_sigma_g=0.94, accumulate=2), "noise_sigma_g"),  # the step runner has no noisy forward
])
def test_bad_config_raises_naming_the_argument(kw, name):
    with pytest.raises(ValueError, match=name):
        tiny(**kw)


def test_bad_direct_arguments():
    w = torch.ones(2, 2)
    with pytest.raises(ValueError, match="sigma_g"):
        additive_noise_std(w, sigma_g=-1)
    with pytest.raises(ValueError, match="g_max"):
        additive_noise_std(w, g_max=0)
    with pytest.raises(ValueError, match="alpha"):
        clip_weights_std(torch.optim.SGD([w.requires_grad_()], lr=0.1), [w], 0.0)
    with pytest.raises(ValueError, match="model"):
        AdditiveWeightNoise(nn.ReLU())


class Interrupt(BaseException):
    """Stands in for Ctrl-C."""


def test_sam_noise_std_clip_trains_and_resumes_bit_identical(tmp_path):
    cfg = tiny(method="samson", p=2.0, noise_sigma_g=0.94, clip_std_alpha=2.0)
    ref = T.train(cfg, store=RunStore(tmp_path / "ref"), progress=False)
    assert ref.finished and 0.0 <= ref.summary["test_acc"] <= 1.0
    assert ref.summary["label"] == "SAMSON_2 + noise (±2·std)"
    store = RunStore(tmp_path / "cut")

    def stop(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        T.train(cfg, store=store, progress=False, callback=stop)
    assert "weight_noise" in store.load_checkpoint(cfg)["rng"]
    resumed = T.train(cfg, store=store, progress=False)
    timing = {"train_time_s", "eval_time_s", "images_per_s"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]  # noqa: E731
    assert strip(resumed.metrics) == strip(ref.metrics)
    a, b = resumed.state_dict(), ref.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the noise changes training: a run without it ends elsewhere
    plain = T.train(tiny(method="samson", p=2.0, clip_std_alpha=2.0), store=RunStore(tmp_path / "p"), progress=False)
    assert any(not torch.equal(plain.state_dict()[k], b[k]) for k in b)
