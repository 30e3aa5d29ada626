"""samlab.toy: positive scaling, sharpness (hand-derived) and the Fig. 1 profiles (notebooks 01-02)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from samlab.experiments import perturbation_profiles as pp
from samlab.experiments import scale_invariance as toy


# ------------------------------------------------------------------------------------------- positive scaling

def _tiny_net(w1: float, b1: float, w2: float, b2: float) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        net[0].weight.fill_(w1), net[0].bias.fill_(b1), net[2].weight.fill_(w2), net[2].bias.fill_(b2)
    return net


def test_positive_scaling_by_hand():
    # f(x) = 3 relu(2x + 1) + 0.5; tau = 2 -> 1.5 relu(4x + 2) + 0.5, the same function
    net = _tiny_net(2.0, 1.0, 3.0, 0.5)
    scaled = toy.positive_scaling(net, [torch.tensor([2.0], dtype=torch.float64)])
    assert scaled[0].weight.item() == 4.0 and scaled[0].bias.item() == 2.0
    assert scaled[2].weight.item() == 1.5 and scaled[2].bias.item() == 0.5
    x = torch.tensor([[-1.0], [-0.5], [0.0], [3.0]], dtype=torch.float64)
    assert torch.equal(net(x), scaled(x))
    assert net[0].weight.item() == 2.0, "the input model must not change"
    # biases left alone: 1.5 relu(4x + 1) + 0.5 differs at x = 0 (1.5 vs 3)
    left = toy.positive_scaling(net, [torch.tensor([2.0], dtype=torch.float64)], scale_biases=False)
    assert left(torch.zeros(1, 1, dtype=torch.float64)).item() == pytest.approx(2.0)
    assert net(torch.zeros(1, 1, dtype=torch.float64)).item() == pytest.approx(3.5)


@pytest.mark.parametrize("scaling", ["no biases", "biases scaled"])
def test_positive_scaling_keeps_the_logits(scaling):
    has_bias, scale_biases = toy.SCALINGS[scaling]
    net = toy.toy_relu_net((2, 6, 5, 3), bias=has_bias, seed=1)
    x = torch.randn(20, 2, dtype=torch.float64)
    for taus in toy.random_taus(net, 5, low=0.5, high=1.5, seed=2):
        scaled = toy.positive_scaling(net, taus, scale_biases=scale_biases)
        assert not torch.equal(scaled[0].weight, net[0].weight)
        torch.testing.assert_close(scaled(x), net(x), rtol=0, atol=1e-13)


def test_leaving_biases_changes_the_function():
    net = toy.toy_relu_net((2, 6, 5, 3), bias=True, seed=1)
    taus = toy.random_taus(net, 1, seed=2)[0]
    x = torch.randn(20, 2, dtype=torch.float64)
    assert (toy.positive_scaling(net, taus, scale_biases=False)(x) - net(x)).abs().max() > 1e-3


def test_table2_network_scales_too():
    from samlab.models import create_model

    torch.manual_seed(0)
    net = create_model("table2_mlp").double()   # Linear, Linear (no ReLU between), ReLU, ...
    taus = toy.random_taus(net, 1, seed=0)[0]
    assert [t.numel() for t in taus] == [10, 10, 10, 10]
    x = torch.randn(8, 2, dtype=torch.float64)
    torch.testing.assert_close(toy.positive_scaling(net, taus)(x), net(x), rtol=0, atol=1e-12)


def test_bias_free_variant_shares_the_weights():
    a = toy.toy_relu_net((2, 4, 2), bias=True, seed=5)
    b = toy.toy_relu_net((2, 4, 2), bias=False, seed=5)
    assert torch.equal(a[0].weight, b[0].weight) and b[0].bias is None


def test_random_taus_range_and_reproducibility():
    net = toy.toy_relu_net((2, 7, 3, 2), seed=0)
    t1 = toy.random_taus(net, 50, low=0.5, high=1.5, seed=9)
    t2 = toy.random_taus(net, 50, low=0.5, high=1.5, seed=9)
    assert len(t1) == 50 and [t.numel() for t in t1[0]] == [7, 3]
    assert all(torch.equal(a, b) for ta, tb in zip(t1, t2) for a, b in zip(ta, tb))
    flat = torch.cat([t for ts in t1 for t in ts])
    assert flat.min() >= 0.5 and flat.max() <= 1.5


def test_positive_scaling_refuses_bad_input():
    net = toy.toy_relu_net((2, 3, 2), seed=0)
    with pytest.raises(ValueError, match="positive"):
        toy.positive_scaling(net, [torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)])
    with pytest.raises(ValueError, match="one tensor per hidden layer"):
        toy.positive_scaling(net, [])
    with pytest.raises(ValueError, match="Tanh"):
        toy.positive_scaling(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)), [torch.ones(3)])
    with pytest.raises(ValueError, match="low"):
        toy.random_taus(net, 3, low=0.0)


# ------------------------------------------------------------------------------------------------- sharpness

def _two_logit_net(w_top: float, w_bottom: float) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(1, 2, bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[w_top], [w_bottom]], dtype=torch.float64))
    return net


@pytest.mark.parametrize("method, p, margin_drop", [
    # W = [2, -1], x = 1, y = 0: logits (2, -1), margin 3, g = s (-1, 1) with s = softmax_1 > 0
    ("sam", 2.0, math.sqrt(2.0)),            # eps = rho (-1, 1)/sqrt 2        -> margin 3 - sqrt(2) rho
    ("asam", 2.0, math.sqrt(5.0)),           # T = (2, 1): eps = rho (-4, 1)/sqrt 5 -> margin 3 - sqrt(5) rho
    ("samson", math.inf, math.sqrt(1.25)),   # T = (1, 1/2): eps = rho (-1, 1/4)/sqrt(5/4)
    ("samson", 2.0, math.sqrt(5.0) / math.sqrt(5.0)),  # T = (2, 1)/sqrt 5: eps = ASAM's / sqrt 5
])
def test_sharpness_by_hand(method, p, margin_drop):
    rho = 0.3
    net = _two_logit_net(2.0, -1.0)
    x, y = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.long)
    expected = math.log1p(math.exp(-(3 - margin_drop * rho))) - math.log1p(math.exp(-3))
    got = toy.sharpness(net, x, y, method=method, rho=rho, p=p, eta=0.0, adaptive="all")
    assert got == pytest.approx(expected, rel=1e-10)
    assert net[0].weight[0, 0].item() == 2.0, "sharpness must not move the model"


def test_asam_sharpness_invariant_under_weights_only_scaling():
    net = toy.toy_relu_net((2, 8, 6, 2), bias=False, seed=0)
    x = torch.randn(64, 2, dtype=torch.float64)
    y = (x[:, 0] * x[:, 1] < 0).long()
    base = {m: toy.sharpness(net, x, y, method=m, rho=0.1) for m in ("sam", "asam")}
    for taus in toy.random_taus(net, 3, seed=1):
        scaled = toy.positive_scaling(net, taus)
        assert toy.sharpness(scaled, x, y, method="asam", rho=0.1) == pytest.approx(base["asam"], rel=1e-9)
        assert toy.sharpness(scaled, x, y, method="sam", rho=0.1) != pytest.approx(base["sam"], rel=1e-3)


def test_scaling_biases_too_breaks_weights_only_asam_but_not_asam_on_all():
    net = toy.toy_relu_net((2, 8, 6, 2), bias=True, seed=0)
    x = torch.randn(64, 2, dtype=torch.float64)
    y = (x[:, 0] * x[:, 1] < 0).long()
    scaled = toy.positive_scaling(net, toy.random_taus(net, 1, seed=1)[0], scale_biases=True)
    w_only = [toy.sharpness(m, x, y, method="asam", rho=0.1, adaptive="weights") for m in (net, scaled)]
    all_ = [toy.sharpness(m, x, y, method="asam", rho=0.1, adaptive="all") for m in (net, scaled)]
    assert abs(w_only[1] / w_only[0] - 1) > 1e-4       # official ASAM: biases get T = 1 -> not invariant
    assert all_[1] == pytest.approx(all_[0], rel=1e-9)  # T on biases as well -> invariant again


def test_spread():
    assert toy.spread([2.0, 2.0, 2.0]) == 0.0
    assert toy.spread([1.0, 1.5, 2.0]) == pytest.approx(1.0)
    assert math.isnan(toy.spread([1.0, -1.0]))


def test_scale_invariance_study_reports_what_the_report_saw():
    res = toy.scale_invariance_study(rho=0.05, p=2.0, k=10, n_points=100)
    assert res["logits"].shape == (10, 4, 2)
    assert np.ptp(res["logits"], axis=0).max() < 1e-12                    # the function never changes
    assert set(res["spread"]) == {"sam", "asam", "samson_2", "samson_inf"}
    assert res["spread"]["asam"] < 1e-9 and res["spread"]["sam"] > 0.05   # Figs. 3-4
    assert "spread" in toy.format_spreads(res)
    with pytest.raises(ValueError, match="rho"):
        toy.scale_invariance_study(rho=-0.1)
    with pytest.raises(ValueError, match="scaling"):
        toy.scale_invariance_study(scaling="sideways")
    with pytest.raises(ValueError, match="tau_range"):
        toy.scale_invariance_study(tau_range=(1.5, 0.5))


# ------------------------------------------------------------------------------------- SAMSON Fig. 1 profiles

def test_clipped_normal_layer_is_clipped():
    w = pp.clipped_normal_layer(0.1)
    assert w.abs().max().item() == pytest.approx(0.1) and (w.abs() <= 0.1).all()
    assert torch.equal(w, pp.clipped_normal_layer(0.1))


def test_clipped_normal_layer_cannot_be_corrupted_by_a_caller():
    w = pp.clipped_normal_layer(0.15)
    kept = w.clone()
    w.mul_(0.0)                                                   # a caller scribbling on its copy
    assert torch.equal(pp.clipped_normal_layer(0.15), kept)
    norm = float(torch.linalg.vector_norm(kept, ord=math.inf))    # = c: the outliers sit at +-c
    assert norm == pytest.approx(0.15)
    assert pp.profile_limits(rho=1.0, p=math.inf, c_values=[0.15])[("samson", math.inf)] == pytest.approx(1.0)


def test_studies_never_touch_the_global_rng():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    net = toy.toy_relu_net(seed=0)
    pp.clipped_normal_layer(0.1, seed=5)
    toy.random_taus(net, 3, seed=1)
    assert torch.equal(state, torch.random.get_rng_state()), "the global RNG moved"
    torch.manual_seed(999)                                        # another global state: the same network
    again = toy.toy_relu_net(seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))


def test_perturbation_profiles_match_the_closed_forms():
    rho, eta = 0.5, 0.01
    profs = pp.perturbation_profiles(rho=rho, p=2.0, c=0.12, eta=eta)
    assert len(profs) == 4 * 4   # SAM, ASAM, SAMSON_2, SAMSON_inf x (0.1, 0.15, 0.2, slider)
    assert sum(pr["slider"] for pr in profs) == 4
    for pr in profs:
        w, eps, c = pr["w"], pr["eps"], pr["c"]
        assert w.min() == pytest.approx(-c) and w.max() == pytest.approx(c)
        if pr["method"] == "sam":
            np.testing.assert_allclose(eps, rho)                       # a flat line at rho
        elif pr["method"] == "asam":
            np.testing.assert_allclose(eps, rho * (np.abs(w) + eta))   # independent of the range c
        else:
            norm = float(torch.linalg.vector_norm(pp.clipped_normal_layer(c), ord=pr["p"]))
            np.testing.assert_allclose(eps, rho * np.abs(w) / norm, rtol=1e-12, atol=1e-15)
    inf_edges = [pr["eps"].max() for pr in profs if pr["method"] == "samson" and math.isinf(pr["p"])]
    np.testing.assert_allclose(inf_edges, rho)   # SAMSON_inf: the outlier weight c gets exactly rho


def test_perturbation_profiles_refuse_bad_input():
    with pytest.raises(ValueError, match="c="):
        pp.perturbation_profiles(c=0.0)
    with pytest.raises(ValueError, match="rho"):
        pp.perturbation_profiles(rho=-1.0)
    with pytest.raises(ValueError, match="p="):
        pp.perturbation_profiles(p=0.5)


def test_scaling_comparison_table_has_one_row_per_scaling_and_rule():
    results = toy.scaling_comparison(k=3, seed=0)
    assert list(results) == [(s, a) for s in toy.SCALINGS for a in ("weights", "all")]
    lines = toy.format_scaling_table(results).splitlines()
    assert lines[0] == "spread (max/min - 1) of each sharpness over the scalings:" and len(lines) == 2 + 6
    assert lines[1].startswith("scaling       T applies to  max logit change") and "SAMSON∞" in lines[1]
    r = results["biases left", "weights"]
    change = float((r["logits"].max(0) - r["logits"].min(0)).max())
    assert lines[6].startswith(f"biases left   weights      {change:17.2g}")


def test_describe_clipped_layers_counts_the_weights_at_the_range():
    lines = pp.describe_clipped_layers((0.1, 0.2), n=1000, std=0.1, seed=0).splitlines()
    w = pp.clipped_normal_layer(0.1, n=1000, std=0.1, seed=0)
    share = 100 * float((w.abs() == 0.1).double().mean())
    assert len(lines) == 2 and lines[0].startswith(f"c = 0.1   clipped: {share:4.1f} %")
    assert 25 < share < 40        # P(|N(0, 0.1^2)| >= 0.1) = 31.7 %
    assert float(lines[1].rsplit("= ", 1)[1]) <= 0.2   # ||W||_inf of the layer clipped to [-0.2, 0.2]


def test_findings_rule_is_the_float64_roundoff_level():
    from samlab.experiments import scale_invariance as si

    assert si.ROUNDOFF == 2.0 ** -26                      # sqrt(2^-52), float64's machine epsilon
    fake = lambda sam, asam: {"logits": [0] * 50, "spread": {"sam": sam, "asam": asam}}  # noqa: E731
    rows = {f.key: f for f in si.findings(fake(0.3, 1e-13), fake(0.3, 0.01), scale="smoke")}
    assert [rows[k].verdict for k in ("asam_invariant", "sam_varies", "bias_caveat")] == ["supported"] * 3
    assert rows["sam_varies"].estimate == pytest.approx(30.0) and "50 scalings" in rows["sam_varies"].subject
    flat = {f.key: f.verdict for f in si.findings(fake(1e-12, 1e-6), fake(0.3, 1e-14), scale="smoke")}
    assert flat == {"asam_invariant": "contradicted", "sam_varies": "contradicted", "bias_caveat": "contradicted"}
