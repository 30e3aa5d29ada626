"""worst_case_perturbation against SAM eq. 2, ASAM eq. 4 and SAMSON eq. 6, derived by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from samlab.perturbation import perturbation_norm, worst_case_perturbation

T = torch.tensor


def close(a, b, tol=1e-6):
    torch.testing.assert_close(a, T(b, dtype=a.dtype) if not torch.is_tensor(b) else b, rtol=tol, atol=tol)


def test_sam_eq2_is_rho_times_unit_gradient():
    w, g = T([1.0, 2.0]), T([3.0, 4.0])
    (eps,) = worst_case_perturbation([w], [g], method="sam", rho=0.05)
    close(eps, [0.03, 0.04])  # 0.05 * [3, 4] / 5
    assert perturbation_norm([w], [eps], method="sam") == pytest.approx(0.05)


def test_sam_norm_runs_over_all_tensors_and_ignores_none():
    w1, w2, w3 = T([0.0]), T([0.0]), T([9.0])
    eps = worst_case_perturbation([w1, w2, w3], [T([3.0]), T([4.0]), None], method="sam", rho=1.0)
    close(eps[0], [0.6])
    close(eps[1], [0.8])
    assert eps[2] is None


def test_asam_eq4_weights_only():
    # T = |w| = [1, 2]; T g = [3, 8]; eps = rho T^2 g / ||T g|| = rho [3, 16] / sqrt(73)
    w, g = T([[1.0, -2.0]]), T([[3.0, 4.0]])
    (eps,) = worst_case_perturbation([w], [g], method="asam", rho=0.5, eta=0.0)
    close(eps, [[0.5 * 3 / math.sqrt(73), 0.5 * 16 / math.sqrt(73)]])
    assert perturbation_norm([w], [eps], method="asam") == pytest.approx(0.5)


def test_asam_eta_is_added_to_the_magnitude():
    # T = |w| + 0.5 = [1.5, 2.5]; T g = [4.5, 10]; eps = rho [6.75, 25] / sqrt(120.25)
    w, g = T([[1.0, 2.0]]), T([[3.0, 4.0]])
    (eps,) = worst_case_perturbation([w], [g], method="asam", rho=1.0, eta=0.5)
    n = math.sqrt(4.5**2 + 10**2)
    close(eps, [[6.75 / n, 25 / n]])
    assert perturbation_norm([w], [eps], method="asam", eta=0.5) == pytest.approx(1.0)


def test_asam_leaves_biases_unscaled_by_default():
    # weight: T = |w| = 2, bias: T = 1. Tg = [2*1, 1*1]; eps = [4, 1] / sqrt(5)
    w, b = T([[2.0]]), T([7.0])
    eps_w, eps_b = worst_case_perturbation([w, b], [T([[1.0]]), T([1.0])], method="asam", rho=1.0, eta=0.0)
    close(eps_w, [[4 / math.sqrt(5)]])
    close(eps_b, [1 / math.sqrt(5)])
    # adaptive=[True, True]: T_b = 7 -> Tg = [2, 7], eps = [4, 49] / sqrt(53)
    eps_w, eps_b = worst_case_perturbation([w, b], [T([[1.0]]), T([1.0])], method="asam", rho=1.0,
                                           eta=0.0, adaptive=[True, True])
    close(eps_b, [49 / math.sqrt(53)])


def test_samson_eq6_p2():
    # ||W||_2 = 5 -> T = [0.6, 0.8]; g = 1 -> T g = [0.6, 0.8], norm 1 -> eps = rho [0.36, 0.64]
    w, g = T([[3.0, 4.0]]), T([[1.0, 1.0]])
    (eps,) = worst_case_perturbation([w], [g], method="samson", rho=0.5, p=2)
    close(eps, [[0.18, 0.32]])
    assert perturbation_norm([w], [eps], method="samson", p=2) == pytest.approx(0.5)


def test_samson_eq6_pinf():
    # ||W||_inf = 4 -> T = [0.75, 1]; T g = [0.75, 1], norm 1.25 -> eps = rho [0.5625, 1] / 1.25
    w, g = T([[3.0, -4.0]]), T([[1.0, 1.0]])
    (eps,) = worst_case_perturbation([w], [g], method="samson", rho=0.5, p=float("inf"))
    close(eps, [[0.5 * 0.45, 0.5 * 0.8]])


def test_samson_p1():
    # ||W||_1 = 7 -> T = [3/7, 4/7]; T g = T; eps = rho T^2 / ||T|| = rho [9, 16] / (7 * 5)
    w, g = T([[3.0, 4.0]]), T([[1.0, 1.0]])
    (eps,) = worst_case_perturbation([w], [g], method="samson", rho=1.0, p=1)
    close(eps, [[9 / 35, 16 / 35]])


def test_fig1_samson_moves_with_the_range_asam_does_not():
    # One-hot gradient on the weight 0.1 (SAMSON Fig. 1's "grad L = 1"): eps = rho * T.
    rho = 0.5
    for c in (0.2, 0.4):
        w = T([[0.1, c, -c / 2]])
        g = T([[1.0, 0.0, 0.0]])
        (asam,) = worst_case_perturbation([w], [g], method="asam", rho=rho, eta=0.0)
        (s_inf,) = worst_case_perturbation([w], [g], method="samson", rho=rho, p=float("inf"))
        (sam,) = worst_case_perturbation([w], [g], method="sam", rho=rho)
        assert asam[0, 0].item() == pytest.approx(rho * 0.1)          # independent of c
        assert s_inf[0, 0].item() == pytest.approx(rho * 0.1 / c)     # 0.25 at c=0.2, 0.125 at c=0.4
        assert sam[0, 0].item() == pytest.approx(rho)                 # flat line


def test_zero_gradient_gives_zero_not_nan():
    for method in ("sam", "asam", "samson"):
        (eps,) = worst_case_perturbation([T([[1.0, 2.0]])], [torch.zeros(1, 2)], method=method, rho=0.5)
        assert torch.equal(eps, torch.zeros(1, 2))
    # all-zero weights under SAMSON: T = 0/||0|| is taken as 0, so eps = 0 too
    (eps,) = worst_case_perturbation([torch.zeros(2, 2)], [torch.ones(2, 2)], method="samson", rho=0.5)
    assert torch.equal(eps, torch.zeros(2, 2))


def test_gradients_are_not_modified():
    g = T([[3.0, 4.0]])
    worst_case_perturbation([T([[1.0, 2.0]])], [g], method="asam", rho=0.5)
    assert torch.equal(g, T([[3.0, 4.0]]))


@pytest.mark.parametrize("kwargs, name", [
    (dict(method="adam", rho=0.1), "method"),
    (dict(method="sam", rho=-0.1), "rho"),
    (dict(method="samson", rho=0.1, p=0.5), "p"),
    (dict(method="asam", rho=0.1, eta=-1.0), "eta"),
    (dict(method="sam", rho=float("nan")), "rho"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        worst_case_perturbation([T([1.0])], [T([1.0])], **kwargs)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        worst_case_perturbation([T([1.0, 2.0])], [T([1.0])], method="sam", rho=0.1)


# ------------------------------------------------------------------ which tensors T applies to (adaptive rules)
def test_named_weight_rule_is_the_official_asam_rule():
    # official ASAM: T on every tensor whose name contains "weight" (BN scale included), T = 1 on biases.
    # T = [2] (weight), 3 (bn.weight), 1 (bias); g = 1 each -> T g = [2, 3, 1], norm sqrt(14); eps = T^2 g / sqrt 14
    ps = [T([[2.0]]), T([3.0]), T([5.0])]
    gs = [T([[1.0]]), T([1.0]), T([1.0])]
    e = worst_case_perturbation(ps, gs, method="asam", rho=1.0, eta=0.0, adaptive="named_weight",
                                names=["0.weight", "1.weight", "0.bias"])
    n = math.sqrt(14)
    close(e[0], [[4 / n]]), close(e[1], [9 / n]), close(e[2], [1 / n])
    with pytest.raises(ValueError, match="names"):
        worst_case_perturbation(ps, gs, method="asam", rho=1.0, adaptive="named_weight")


def test_weights_only_rule_leaves_1d_tensors_unperturbed_and_out_of_the_norm():
    # SAMSON_2, W = [[3, 4]]: T = [0.6, 0.8], T g = T (norm 1) -> eps = [0.36, 0.64]; the bias gets None
    w, b = T([[3.0, 4.0]]), T([7.0])
    eps_w, eps_b = worst_case_perturbation([w, b], [T([[1.0, 1.0]]), T([100.0])], method="samson", rho=1.0,
                                           adaptive="weights_only")
    close(eps_w, [[0.36, 0.64]])
    assert eps_b is None


def test_bad_adaptive_rule_names_the_argument():
    with pytest.raises(ValueError, match="adaptive_params"):
        worst_case_perturbation([T([1.0])], [T([1.0])], method="asam", rho=0.1, adaptive="biases")


# ------------------------------------------------------------- what SAM needs: ESAM's SWP masks, parameter groups
def test_swp_mask_official_and_paper_normalisation_by_hand():
    # g = [3], [4]; tensor 2 not drawn, beta 0.5, rho 1. "official" (authors' code): norm over the drawn tensor
    # only, 3 -> eps_1 = (rho / beta) 3 / 3 = 2. "paper" (ESAM eq. 6, m * eps* / beta): eps* over both, norm 5
    # -> eps_1 = (1 / 0.5) * 3 / 5 = 1.2. The tensor left out is never perturbed.
    ws, gs = [T([0.0]), T([0.0])], [T([3.0]), T([4.0])]
    official = worst_case_perturbation(ws, gs, method="sam", rho=1.0, beta=0.5, mask=[True, False])
    paper = worst_case_perturbation(ws, gs, method="sam", rho=1.0, beta=0.5, mask=[True, False],
                                    swp_normalization="paper")
    close(official[0], [2.0]), close(paper[0], [1.2])
    assert official[1] is None and paper[1] is None
    # every tensor drawn: both are eps* / beta
    for swp in ("official", "paper"):
        e = worst_case_perturbation(ws, gs, method="sam", rho=1.0, beta=0.5, mask=[True, True],
                                    swp_normalization=swp)
        close(e[0], [1.2]), close(e[1], [1.6])


def test_parameter_groups_each_have_their_geometry_and_share_one_norm():
    # group 1: SAM, rho 1, g = [3] -> T g = 3. group 2: ASAM (eta 0), rho 2, w = 2, g = 2 -> T g = 4.
    # One norm: sqrt(9 + 16) = 5. eps_1 = 1 * 3 / 5 = 0.6; eps_2 = 2 * T^2 g / 5 = 2 * 4 * 2 / 5 = 3.2.
    w1, w2 = T([0.0]), T([[2.0]])
    groups = [dict(params=[w1], rho=1.0), dict(params=[w2], method="asam", rho=2.0, eta=0.0)]
    e1, e2 = worst_case_perturbation(groups, [T([3.0]), T([[2.0]])], method="sam")
    close(e1, [0.6]), close(e2, [[3.2]])
    assert perturbation_norm([w1], [e1], method="sam") == pytest.approx(0.6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mask=[True]), "mask"),
    (dict(beta=0.0), "beta"),
    (dict(beta=1.5), "beta"),
    (dict(swp_normalization="unbiased"), "swp_normalization"),
])
def test_swp_options_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        worst_case_perturbation([T([1.0]), T([2.0])], [T([1.0]), T([1.0])], method="sam", rho=0.1, **kwargs)


def test_bad_parameter_groups_are_refused():
    with pytest.raises(ValueError, match="unknown keys.*'lr'"):
        worst_case_perturbation([dict(params=[T([1.0])], lr=0.1)], [T([1.0])], method="sam", rho=0.1)
    with pytest.raises(ValueError, match="params\\[1\\]"):
        worst_case_perturbation([dict(params=[T([1.0])]), T([1.0])], [T([1.0]), T([1.0])], method="sam", rho=0.1)
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        worst_case_perturbation([dict(params=[T([1.0]), T([2.0])])], [T([1.0])], method="sam", rho=0.1)


def test_perturbation_norm_is_refused_for_mismatched_lists():
    with pytest.raises(ValueError, match="same length"):
        perturbation_norm([T([1.0])], [T([1.0]), None], method="sam")
