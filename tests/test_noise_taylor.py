"""The Taylor check of notebook 05 against truth: on a quadratic loss the second-order prediction is exact at every
sigma_c, so the Monte-Carlo rise measured through samlab's noise must equal it within Monte-Carlo error."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from samlab.experiments import noise_taylor as T
from samlab.experiments.seeds import Setting
from samlab.noise import conductance_noise
from samlab.sharpness import noise_curvature

D = torch.float64


def _quadratic(d: int = 6):
    """A bias-free linear model with loss 0.5 mean((x w - y)^2): L(w) = 0.5 w^T A w - b^T w + c, A = X^T X / n, so
    E[L(w o delta)] - L(w) = (sigma^2 / 2) sum_i w_i^2 A_ii exactly (the gradient term has mean 0)."""
    g = torch.Generator().manual_seed(0)
    w = torch.linspace(-1.5, 2.0, d, dtype=D)
    x = torch.randn(200, d, generator=g, dtype=D)
    y = x @ w + 0.1 * torch.randn(200, generator=g, dtype=D)   # near a minimum, as a trained net: small gradient
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w[None])

    def criterion(out, target):
        return 0.5 * (out.squeeze(-1) - target).pow(2).mean()

    return model, x, y, criterion


def test_quadratic_rise_matches_prediction_within_monte_carlo_error():
    model, x, y, criterion = _quadratic()
    sigmas = (0.05, 0.2, 0.4)
    w = model.weight.detach()[0]
    a = x.T @ x / len(y)
    exact = [0.5 * s * s * float((w * w * torch.diagonal(a)).sum()) for s in sigmas]   # tr(D A D) / 2 * sigma^2
    curv = noise_curvature(model, x, y, probes=400, sigmas=sigmas, criterion=criterion)
    with torch.no_grad():
        clean = float(criterion(model(x), y))
        losses = [[clean] * 400]
        for s in sigmas:
            row = []
            for k in range(400):
                with conductance_noise(model, s, seed=0, draw=k):
                    row.append(float(criterion(model(x), y)))
            losses.append(row)
    rise = T.loss_rise({"sigmas": [0.0, *sigmas], "losses": losses})
    assert rise["sigmas"] == list(sigmas)
    for m, se, p, p_se, e in zip(rise["rise"], rise["rise_se"], curv["predicted"]["rise"],
                                 curv["predicted"]["rise_se"], exact):
        assert abs(m - e) < 4 * se                  # Monte Carlo around the exact quadratic rise
        assert abs(p - e) < 4 * p_se + 1e-12        # Hutchinson around the same
        assert abs(m - p) < 4 * math.hypot(se, p_se)
    check = {Setting("SGD", "plain", 0): {"sigmas": rise["sigmas"], "measured": rise["rise"],
                                          "measured_se": rise["rise_se"], "predicted": curv["predicted"]["rise"]}}
    assert all(r["holds"] for r in T.taylor_rows(check))      # a quadratic: holds at every sigma_c, even 0.4
    assert "outside at none" in T.where_it_holds(check)[0]


def test_rows_ratio_and_errors_by_hand():
    check = {Setting("SAM", "plain", 0): {"sigmas": [0.1, 0.4], "measured": [0.012, 0.5], "predicted": [0.01, 0.16]}}
    rows = T.taylor_rows(check)
    assert [r["ratio"] for r in rows] == pytest.approx([1.2, 3.125]) and [r["holds"] for r in rows] == [True, False]
    assert "0.4 (x3.1)" in T.where_it_holds(check)[0]
    with pytest.raises(ValueError, match="sigma_c = 0"):
        T.loss_rise({"sigmas": [0.1], "losses": [[1.0, 1.1]]})
    assert T.loss_rise({"sigmas": [0.0, 0.1], "losses": [[1.0, 1.0], [1.1, 1.3]]})["rise"] == pytest.approx([0.2])
    curv, mc = T.taylor_specs("quick")
    assert mc.adabs is False and curv.split == "test" and mc.sigmas[0] == 0.0 and curv.sigmas == mc.sigmas[1:]


def test_taylor_figure_is_log_log_with_labelled_axes():
    from samlab.plots.robustness import plot_taylor

    series = [{"label": "SGD · seed 0", "key": "sgd", "sigmas": [0.01, 0.1, 0.4], "measured": [1e-3, 0.1, 5.0],
               "measured_se": [1e-4, 0.01, 0.5], "predicted": [1e-3, 0.08, 1.3]}]
    fig = plot_taylor(series, title="runs")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "sigma_c" in ax.get_xlabel() and "nats" in ax.get_ylabel() and ax.get_legend() is None and fig.legends
    with pytest.raises(ValueError, match="empty"):
        plot_taylor([])
