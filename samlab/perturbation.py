"""Worst-case weight perturbations of SAM, ASAM and SAMSON: pure maths, no optimizer state.

All three methods solve the first-order inner maximisation of an (adaptive) sharpness-aware objective,

    max_{||T^{-1} eps||_2 <= rho} L(w + eps)  ->  eps* = rho * T^2 grad / ||T grad||_2    (elementwise),

and differ only in the diagonal neighbourhood transform ``T`` (SAMSON paper, arXiv 2211.11561):

* SAM    (eq. 1-2): ``T = 1``                      -> ``eps = rho * g / ||g||_2``
* ASAM   (eq. 3-4): ``T = |w| + eta``              -> ``eps = rho * T^2 g / ||T g||_2``
* SAMSON (eq. 5-6): ``T = |w| / ||W||_p (+ eta)``  with ``W`` the whole tensor (layer) holding ``w``;
  any ``p >= 1`` including ``p = inf`` (max-abs, the layer's outlier weight).

``T`` applies only to tensors marked *adaptive*; the others use ``T = 1``. Which tensors are adaptive is a rule
(:data:`ADAPTIVE_PARAMS`, :func:`adaptive_flags`):

* ``"weights"``: tensors with ``ndim > 1`` (conv/linear weights); biases and BatchNorm's scale/shift get ``T = 1``.
* ``"named_weight"``: every tensor whose parameter *name* contains ``"weight"``, which is what the official ASAM
  code does (github.com/SamsungLabs/ASAM, ``asam.py``: ``if 'weight' in n``): conv/linear weights *and*
  BatchNorm's scale get ``T``; biases and BatchNorm's shift get ``T = 1``. Needs parameter names.
* ``"all"``: every tensor, each with its own ``W`` (for SAMSON a bias or BN scale is then normalised by its
  own small norm).
* ``"weights_only"``: ``T`` on tensors with ``ndim > 1`` and *only those are perturbed*: biases and BatchNorm
  parameters get ``eps = 0`` and stay out of the norm. SAMSON's default (:data:`DEFAULT_ADAPTIVE`).

The rule decides where the budget ``rho`` goes. With ``T = 1`` on the 1-d tensors and a small ``T`` on the
weights (``|w| + eta ~ 0.05`` for ASAM, ``|w| / ||W||_2 ~ 1 / sqrt(n)`` for SAMSON_2), almost all of
``||eps||^2`` lands on BatchNorm parameters and biases; measured on ResNet-20 at initialisation
(:func:`samlab.budget.perturbation_budget`) about 99 % for ASAM and 99.97 % for SAMSON_2 under ``"weights"``, and
97.9 % for SAMSON_2 under ``"all"`` (the classifier bias, normalised by its own norm, takes 95 %).

Defaults (:data:`DEFAULT_ADAPTIVE`), argued from the papers and that measurement:

* SAMSON: ``"weights_only"``. Eq. 5-6 define ``T`` through ``W``, "the weight tensor of the layer"; the
  method's purpose is robustness to noise on the weights an analog crossbar stores (conv/linear weights, the
  tensors Algorithm 1 clips and conductance noise hits; BN and biases stay digital). Under any rule that lets
  1-d tensors in, SAMSON_2 spends >= 97 % of its budget off those weights, i.e. it is no longer SAMSON.
* ASAM: ``"weights"``. The official code's rule is ``"named_weight"`` (offered), which differs only in giving
  BatchNorm's scale ``T = |gamma| + eta`` instead of ``1``: at initialisation ``gamma = 1`` so the two agree
  (budget 0.93 % vs 0.92 % on weights), and for networks without BatchNorm they are identical. ``"weights"``
  needs no parameter names, so ``SAM(model.parameters(), ...)`` and the pure function behave the same, and
  results stored under it keep their keys.
* SAM: ``"weights"`` (``T = 1`` everywhere; every tensor perturbed, Foret et al.).
The denominator ``||T g||_2`` is one norm over every tensor that is perturbed (tensors whose gradient is
``None`` are neither perturbed nor counted). The result always has norm ``rho`` in the method's metric,
``||T^{-1} eps||_2 = rho``, and a zero gradient gives ``eps = 0`` (never NaN).

The same function drives :class:`samlab.optim.SAM` (whose ``first_step`` is one call of it: parameter groups,
each with its own geometry, under one norm, and ESAM's SWP mask and ``rho / beta``), the Fig. 1 plot and the
m-sharpness metrics (whose projection uses :func:`perturbation_norm`, the one norm of the neighbourhood).

Fig. 1 of SAMSON plots eps* against the weight value "assuming grad L(w) = 1": with a one-hot gradient
``e_i`` on weight ``i`` the formula reduces to ``eps_i = rho * T_i`` (``rho`` for SAM, ``rho (|w_i| + eta)``
for ASAM, ``rho |w_i| / ||W||_p`` for SAMSON), which is how :mod:`samlab.plots` draws it.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor

from .checks import check_choice, check_number
from .methods import DEFAULT_ETA, DEFAULT_RHO, GEOMETRIES

__all__ = ["ADAPTIVE_PARAMS", "DEFAULT_ADAPTIVE", "SWP_NORMALIZATIONS", "adaptive_flags", "perturbed_flags",
           "neighbourhood_scale", "worst_case_perturbation", "perturbation_norm", "check_method_args"]

#: The rules for which tensors ASAM/SAMSON's transform ``T`` applies to (see the module docstring).
ADAPTIVE_PARAMS = ("weights", "named_weight", "all", "weights_only")
#: Each method's default rule (argued in the module docstring).
DEFAULT_ADAPTIVE = {"sam": "weights", "asam": "weights", "samson": "weights_only"}
#: How ESAM's SWP scales the masked perturbation (:func:`worst_case_perturbation`): the authors' code or eq. 6.
SWP_NORMALIZATIONS = ("official", "paper")
# The keys a parameter group of worst_case_perturbation may hold (torch's param-group convention).
_GROUP_KEYS = ("params", "method", "rho", "p", "eta", "adaptive", "names", "beta")

# Below this a layer norm counts as zero (all-zero tensor): T is then 0 there instead of 0/0.
_TINY = 1e-30


def check_method_args(method: str, rho: float | None = None, p: float = 2.0,
                      eta: float | None = None) -> tuple[str, float, float, float]:
    """Validate ``method, rho, p, eta`` and fill the paper defaults; return them as ``(method, rho, p, eta)``."""
    check_choice("method", method, GEOMETRIES)
    rho = DEFAULT_RHO[method] if rho is None else check_number("rho", rho, low=0.0)
    p = check_number("p", p, low=1.0, allow_inf=True)
    eta = DEFAULT_ETA[method] if eta is None else check_number("eta", eta, low=0.0)
    return method, rho, p, eta


def adaptive_flags(params: Sequence[Tensor], rule: str,
                   names: Sequence[str | None] | None = None) -> list[bool]:
    """Per tensor, whether ``T`` applies under ``rule`` (one of :data:`ADAPTIVE_PARAMS`).

    ``names`` (one per tensor, e.g. from ``model.named_parameters()``) is needed for ``"named_weight"``.
    """
    check_choice("adaptive_params", rule, ADAPTIVE_PARAMS)
    if rule == "all":
        return [True] * len(params)
    if rule in ("weights", "weights_only"):
        return [w.ndim > 1 for w in params]
    if names is None or any(n is None for n in names):
        raise ValueError("adaptive_params='named_weight' needs parameter names: pass model.named_parameters() "
                         "(or model=...) to the optimizer, or names=[...] to the function")
    if len(names) != len(params):
        raise ValueError(f"names must have one entry per tensor ({len(params)}), got {len(names)}")
    return ["weight" in str(n) for n in names]


def perturbed_flags(params: Sequence[Tensor], rule: str) -> list[bool]:
    """Per tensor, whether it is perturbed at all under ``rule``: every tensor, except under ``"weights_only"``
    (then only ``ndim > 1``)."""
    check_choice("adaptive_params", rule, ADAPTIVE_PARAMS)
    return [rule != "weights_only" or w.ndim > 1 for w in params]


def neighbourhood_scale(params: Sequence[Tensor], *, method: str, p: float = 2.0, eta: float = 0.0,
                        adaptive: Sequence[bool]) -> list[Tensor | None]:
    """The diagonal transform ``T`` per tensor (``None`` means ``T = 1``): eq. 4 for ASAM, eq. 6 for SAMSON."""
    out: list[Tensor | None] = [None] * len(params)
    if method == "sam":
        return out
    idx = [i for i, a in enumerate(adaptive) if a]
    if not idx:
        return out
    ws = [params[i].detach() for i in idx]
    scale = torch._foreach_abs(ws)
    if method == "samson":
        norms = torch._foreach_norm(ws, p)
        torch._foreach_clamp_min_(norms, _TINY)
        torch._foreach_div_(scale, norms)
    if eta:
        torch._foreach_add_(scale, eta)
    for i, s in zip(idx, scale):
        out[i] = s
    return out


def _global_norm(tensors: Sequence[Tensor]) -> Tensor:
    """One L2 norm over a list of tensors (as if flattened and concatenated)."""
    if not tensors:
        return torch.zeros(())
    norms = torch._foreach_norm(list(tensors), 2.0)
    return torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]), 2.0)


def _scaled_gradients(grads: Sequence[Tensor], scales: Sequence[Tensor | None]) -> list[Tensor]:
    """``T * g`` per tensor as new tensors (``g`` itself is never modified), batched with ``_foreach``."""
    out: list[Tensor] = [None] * len(grads)  # type: ignore[list-item]
    ad = [i for i, t in enumerate(scales) if t is not None]
    plain = [i for i, t in enumerate(scales) if t is None]
    if ad:
        for i, v in zip(ad, torch._foreach_mul([grads[i] for i in ad], [scales[i] for i in ad])):
            out[i] = v
    if plain:
        for i, v in zip(plain, torch._foreach_mul([grads[i] for i in plain], 1.0)):
            out[i] = v
    return out


def _finish(tg: list[Tensor], scales: Sequence[Tensor | None], factor: Tensor | float) -> list[Tensor]:
    """``factor * T * (T g)`` in place on ``tg`` (the eq. 2/4/6 numerator times ``rho / ||T g||``); returns it."""
    ad = [i for i, t in enumerate(scales) if t is not None]
    if ad:
        torch._foreach_mul_([tg[i] for i in ad], [scales[i] for i in ad])
    if tg:
        if isinstance(factor, Tensor):
            factor = factor.to(tg[0].device)
        torch._foreach_mul_(tg, factor)
    return tg


def _param_groups(params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> list[dict]:
    """``params`` as a list of complete groups: a list of tensors is one group with ``defaults``; dicts (torch's
    parameter-group convention) override ``defaults`` key by key."""
    items = list(params)
    if not any(isinstance(g, dict) for g in items):
        return [{**defaults, "params": items}]
    groups = []
    for i, group in enumerate(items):
        if not isinstance(group, dict) or "params" not in group:
            raise ValueError(f"params[{i}]={group!r}: a list of parameter groups must hold only dicts with a "
                             "'params' key (or pass a plain list of tensors)")
        unknown = sorted(set(group) - set(_GROUP_KEYS))
        if unknown:
            raise ValueError(f"params[{i}] has unknown keys {unknown}; allowed: {', '.join(_GROUP_KEYS)}")
        groups.append({**defaults, **group, "params": list(group["params"])})
    return groups


def worst_case_perturbation(params: Iterable[Tensor] | Iterable[dict[str, Any]], grads: Iterable[Tensor | None], *,
                            method: str = "sam", rho: float | None = None, p: float = 2.0, eta: float = 0.0,
                            adaptive: Sequence[bool] | str | None = None, names: Sequence[str | None] | None = None,
                            beta: float = 1.0, mask: Sequence[bool] | None = None,
                            swp_normalization: str = "official") -> list[Tensor | None]:
    """First-order worst-case perturbation ``eps*`` of SAM (eq. 2), ASAM (eq. 4) or SAMSON (eq. 6), with ESAM's
    SWP (ESAM eq. 6, Algorithm 1 line 7); the one kernel behind :class:`samlab.optim.SAM` and the measures.

    ``params`` and ``grads`` are matching lists of tensors; a ``None`` gradient means that tensor is not
    perturbed (its entry in the result is ``None``) and does not enter the norm. ``adaptive`` says per
    tensor whether ``T`` applies: a list of booleans, or a rule of :data:`ADAPTIVE_PARAMS` (``names`` needed
    for ``"named_weight"``; under ``"weights_only"`` the other tensors get ``None``); default ``"weights"``
    (``ndim > 1``, for the notebooks' tensor lists). ``rho=None`` takes the method's paper default.
    Returns ``eps`` with ``||T^{-1} eps||_2 = rho``.

    ``params`` may instead be parameter groups (dicts with ``"params"`` and any of ``method, rho, p, eta,
    adaptive, names, beta`` overriding the keywords; ``grads`` and ``mask`` then follow the groups' tensors in
    order): each group gets its own ``T`` and radius, and the denominator ``||T g||_2`` is one norm over all.

    ESAM's SWP: ``mask`` (one boolean per tensor, ``None`` = all) says which tensors were drawn, and each
    group's radius becomes ``rho / beta``. ``swp_normalization="official"`` (the authors' code) takes the norm
    over the drawn tensors only; ``"paper"`` (eq. 6, ``m * eps* / beta``) over every tensor. Either way the
    tensors not drawn get ``None``.
    """
    check_choice("swp_normalization", swp_normalization, SWP_NORMALIZATIONS)
    groups = _param_groups(params, dict(method=method, rho=rho, p=p, eta=eta, adaptive=adaptive, names=names,
                                        beta=beta))
    flat = [w for group in groups for w in group["params"]]
    grads = list(grads)
    if len(flat) != len(grads):
        raise ValueError(f"params and grads must have the same length, got {len(flat)} and {len(grads)}")
    if mask is not None:
        mask = list(mask)
        if len(mask) != len(flat):
            raise ValueError(f"mask must have one entry per tensor ({len(flat)}), got {len(mask)}")
    # Which tensors enter the norm: the drawn ones ("official"), or every one ("paper", or no mask).
    drawn = None if swp_normalization == "paper" else mask
    plan = []       # per group: (indices into flat, T per tensor, T g per tensor, radius)
    scaled: list[Tensor] = []
    start = 0
    for group in groups:
        ws = group["params"]
        g_method, g_rho, g_p, g_eta = check_method_args(group["method"], group["rho"], group["p"], group["eta"])
        g_beta = check_number("beta", group["beta"], low=0.0, high=1.0, low_open=True)
        idx, flags = _taking_part(ws, grads[start:start + len(ws)], group["adaptive"], group["names"],
                                  None if drawn is None else drawn[start:start + len(ws)], start)
        scales = neighbourhood_scale([ws[i] for i in idx], method=g_method, p=g_p, eta=g_eta,
                                     adaptive=[flags[i] for i in idx])
        tg = _scaled_gradients([g.detach() if g.requires_grad else g
                                for i in idx if (g := grads[start + i]) is not None], scales)
        plan.append(([start + i for i in idx], scales, tg, g_rho / g_beta))
        scaled += tg
        start += len(ws)
    norm = _global_norm(scaled)   # one norm over every group ("official": drawn tensors only)
    inv = torch.where(norm > 0, 1.0 / norm.clamp_min(_TINY), torch.zeros_like(norm))
    out: list[Tensor | None] = [None] * len(flat)
    for idx, scales, tg, radius in plan:
        for i, e in zip(idx, _finish(tg, scales, inv * radius)):
            if mask is None or mask[i]:
                out[i] = e
    return out


def _taking_part(params: Sequence[Tensor], grads: Sequence[Tensor | None], adaptive: Sequence[bool] | str | None,
                 names: Sequence[str | None] | None, mask: Sequence[bool] | None,
                 offset: int = 0) -> tuple[list[int], list[bool]]:
    """``(indices, T flags)`` of one group: the tensors that take part (a gradient, perturbed under the rule,
    drawn by ``mask``) and, per tensor, whether ``T`` applies. ``offset`` numbers the tensors in messages."""
    if adaptive is None or isinstance(adaptive, str):
        rule = adaptive or "weights"
        flags = adaptive_flags(params, rule, names)
        on = perturbed_flags(params, rule)
    else:
        flags, on = list(adaptive), [True] * len(params)
        if len(flags) != len(params):
            raise ValueError(f"adaptive must have one entry per tensor ({len(params)}), got {len(flags)}")
    for i, (w, g) in enumerate(zip(params, grads)):
        if g is not None and g.shape != w.shape:
            raise ValueError(f"grads[{offset + i}] has shape {tuple(g.shape)} but params[{offset + i}] has "
                             f"{tuple(w.shape)}")
    idx = [i for i, (g, keep) in enumerate(zip(grads, on)) if keep and g is not None and (mask is None or mask[i])]
    return idx, flags


def perturbation_norm(params: Sequence[Tensor], eps: Sequence[Tensor | None], *, method: str,
                      p: float = 2.0, eta: float = 0.0, adaptive: Sequence[bool] | str | None = None,
                      names: Sequence[str | None] | None = None) -> float:
    """``||T^{-1} eps||_2``, the size of ``eps`` in the method's own metric (the constraint of eq. 1/3/5; ``rho`` for
    eps*), summed in float64; the one norm of the neighbourhood (m-sharpness projects with it). ``None`` entries
    are not perturbed; where ``T = 0`` (an all-zero layer, so eps is 0 there too) the entry counts 0."""
    params, eps = list(params), list(eps)
    if len(params) != len(eps):
        raise ValueError(f"params and eps must have the same length, got {len(params)} and {len(eps)}")
    method, _, p, eta = check_method_args(method, 0.0, p, eta)
    if adaptive is None or isinstance(adaptive, str):
        adaptive = adaptive_flags(params, adaptive or "weights", names)
    live = [i for i, e in enumerate(eps) if e is not None]
    scales = neighbourhood_scale([params[i] for i in live], method=method, p=p, eta=eta,
                                 adaptive=[adaptive[i] for i in live])
    total: Tensor | None = None
    for e, t in zip([e for e in eps if e is not None], scales):
        v = e if t is None else torch.where(t > 0, e / t.clamp_min(_TINY), torch.zeros_like(e))
        square = v.double().pow(2).sum()
        total = square if total is None else total + square.to(total.device)
    return 0.0 if total is None else math.sqrt(float(total))
