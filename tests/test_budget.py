"""samlab.budget.perturbation_budget: shares of ||eps||^2 per parameter kind, derived by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from samlab.budget import perturbation_budget

T = torch.tensor


def tiny():
    """Linear(2 -> 1) with W = [[3, 4]], then BatchNorm1d(1) with scale 0.5; gradients set by hand:
    g_W = [[1, 1]], g_bias = [2], g_bn.weight = [1], g_bn.bias = [0]."""
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.copy_(T([[3.0, 4.0]]))
        model[1].weight.fill_(0.5)
    model[0].weight.grad = T([[1.0, 1.0]])
    model[0].bias.grad = T([2.0])
    model[1].weight.grad = T([1.0])
    model[1].bias.grad = T([0.0])
    return model


def shares(weights, bn, biases):
    total = weights + bn + biases
    return {"conv/linear weights": weights / total, "batchnorm": bn / total, "biases": biases / total, "other": 0.0}


@pytest.mark.parametrize("kw, expected", [
    # SAM: eps ~ g; ||g||^2 = 2 (W), 1 (BN), 4 (bias)
    (dict(method="sam"), shares(2, 1, 4)),
    # SAMSON_2 "weights": T_W = [0.6, 0.8] -> eps_W ~ [0.36, 0.64] (sq 0.5392); T = 1 elsewhere: 1 (BN), 4 (bias)
    (dict(method="samson", adaptive_params="weights"), shares(0.5392, 1, 4)),
    # ASAM eta 0 "weights": T_W = |W| -> eps_W ~ [9, 16] (sq 337); BN, bias T = 1
    (dict(method="asam", eta=0.0, adaptive_params="weights"), shares(337, 1, 4)),
    # ASAM eta 0 "named_weight": BN's scale also gets T = 0.5 -> eps ~ 0.25 (sq 0.0625)
    (dict(method="asam", eta=0.0, adaptive_params="named_weight"), shares(337, 0.0625, 4)),
    # SAMSON default "weights_only": only W is perturbed
    (dict(method="samson"), shares(1, 0, 0)),
])
def test_budget_by_hand(kw, expected):
    got = perturbation_budget(tiny(), **kw)
    assert list(got) == list(expected)
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-6), k


def test_zero_gradient_gives_zero_shares():
    model = nn.Linear(2, 1)
    model.weight.grad, model.bias.grad = torch.zeros(1, 2), torch.zeros(1)
    assert set(perturbation_budget(model, method="sam").values()) == {0.0}
