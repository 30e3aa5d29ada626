"""samlab.evaluate: loss and accuracy by hand on a tiny linear model, the training flag, batch-size independence."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from samlab.evaluate import evaluate


class Pixel(nn.Module):
    """logits = W @ (first pixel of each channel) + b: small enough to compute by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2, eps=0.0)  # eval mode must use running statistics (mean 0, var 1: identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(x[:, :, 0, 0]))


def _data():
    x = torch.zeros(3, 3, 2, 2, dtype=torch.uint8)
    x[0, :, 0, 0] = torch.tensor([255, 0, 0])
    x[1, :, 0, 0] = torch.tensor([0, 255, 0])
    x[2, :, 0, 0] = torch.tensor([0, 0, 255])
    y = torch.tensor([0, 1, 1])
    return x, y


def _model() -> Pixel:
    m = Pixel()
    with torch.no_grad():
        m.fc.weight.copy_(torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        m.fc.bias.zero_()
    return m


def test_loss_and_accuracy_by_hand():
    x, y = _data()
    # mean 0, std 1: the pixels become 1.0 where 255. logits: [2, 0], [0, 1], [0, 0]
    # losses: log(1 + e^-2), log(1 + e^-1), log 2; predictions 0, 1, 0 (argmax of a tie is the first) -> 2/3 right
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)) + math.log(2)) / 3
    for batch_size in (1, 2, 3, 500):
        loss, acc = evaluate(_model(), x, y, mean=(0, 0, 0), std=(1, 1, 1), batch_size=batch_size)
        assert loss == pytest.approx(expected, rel=1e-6) and acc == pytest.approx(2 / 3)
    # normalisation: mean 0.5, std 0.5 maps 255 -> 1 and 0 -> -1; logits [2, -1], [-2, 1], [-2, -1]: all right
    loss, acc = evaluate(_model(), x, y, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert acc == 1.0
    assert loss == pytest.approx((math.log1p(math.exp(-3)) * 2 + math.log1p(math.exp(-1))) / 3, rel=1e-6)


def test_training_flag_is_restored_and_nothing_is_learned():
    x, y = _data()
    m = _model().train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    evaluate(m, x, y, mean=(0, 0, 0), std=(1, 1, 1))
    assert m.training and all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # BN stats untouched
    m.eval()
    evaluate(m, x, y, mean=(0, 0, 0), std=(1, 1, 1))
    assert not m.training

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("boom")

    b = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(b, x, y, mean=(0, 0, 0), std=(1, 1, 1))
    assert b.training


def test_every_module_keeps_its_own_flag_a_frozen_batchnorm_stays_in_eval_mode():
    """A frozen BN (eval) inside a model in training mode came back in training mode: model.train(was_training)
    sets every submodule to the top-level flag. noise_curve and pcm_curve evaluate through this function."""
    x, y = _data()
    m = _model().train()
    m.bn.eval()
    evaluate(m, x, y, mean=(0, 0, 0), std=(1, 1, 1))
    assert m.training and m.fc.training and not m.bn.training
    broken = nn.Sequential(m, nn.Linear(5, 1)).train()           # raises: 2 logits into a Linear(5, 1)
    m.bn.eval()                                                  # ... and on error too
    with pytest.raises(RuntimeError):
        evaluate(broken, x, y, mean=(0, 0, 0), std=(1, 1, 1))
    assert [mod.training for mod in broken.modules()] == [True, True, True, False, True]


def test_matches_the_manual_pass_on_a_real_network():
    from samlab.data import load_image_dataset, normalize
    from samlab.models import create_model

    data = load_image_dataset("digits")
    model = create_model("small_cnn", num_classes=10, seed=0).eval()
    x, y = data.test_x[:50], data.test_y[:50]
    loss, acc = evaluate(model, x, y, mean=data.mean, std=data.std, batch_size=16)
    with torch.no_grad():
        out = model(normalize(x, data.mean, data.std))
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert acc == pytest.approx((out.argmax(1) == y).float().mean().item())


@pytest.mark.parametrize("kw, match", [(dict(batch_size=0), "batch_size=0"), (dict(batch_size=True), "batch_size")])
def test_bad_input(kw, match):
    x, y = _data()
    with pytest.raises(ValueError, match=match):
        evaluate(_model(), x, y, mean=(0, 0, 0), std=(1, 1, 1), **kw)
    with pytest.raises(ValueError, match="uint8"):
        evaluate(_model(), x.float(), y, mean=(0, 0, 0), std=(1, 1, 1))
    with pytest.raises(ValueError, match="same length"):
        evaluate(_model(), x, y[:2], mean=(0, 0, 0), std=(1, 1, 1))
