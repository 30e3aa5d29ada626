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

The same function drives :class:`samlab.optim.SAM`, the Fig. 1 plot and the m-sharpness metrics.

Fig. 1 of SAMSON plots eps* against the weight value "assuming grad L(w) = 1": with a one-hot gradient
``e_i`` on weight ``i`` the formula reduces to ``eps_i = rho * T_i`` (``rho`` for SAM, ``rho (|w_i| + eta)``
for ASAM, ``rho |w_i| / ||W||_p`` for SAMSON), which is how :mod:`samlab.plots` draws it.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import Tensor

from .checks import check_choice, check_number
from .methods import DEFAULT_ETA, DEFAULT_RHO, GEOMETRIES

__all__ = ["ADAPTIVE_PARAMS", "DEFAULT_ADAPTIVE", "adaptive_flags", "perturbed_flags", "neighbourhood_scale",
           "worst_case_perturbation", "perturbation_norm", "check_method_args"]

#: The rules for which tensors ASAM/SAMSON's transform ``T`` applies to (see the module docstring).
ADAPTIVE_PARAMS = ("weights", "named_weight", "all", "weights_only")
#: Each method's default rule (argued in the module docstring).
DEFAULT_ADAPTIVE = {"sam": "weights", "asam": "weights", "samson": "weights_only"}

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


def worst_case_perturbation(params: Iterable[Tensor], grads: Iterable[Tensor | None], *, method: str,
                            rho: float, p: float = 2.0, eta: float = 0.0,
                            adaptive: Sequence[bool] | str | None = None,
                            names: Sequence[str] | None = None) -> list[Tensor | None]:
    """First-order worst-case perturbation ``eps*`` of SAM (eq. 2), ASAM (eq. 4) or SAMSON (eq. 6).

    ``params`` and ``grads`` are matching lists of tensors; a ``None`` gradient means that tensor is not
    perturbed (its entry in the result is ``None``) and does not enter the norm. ``adaptive`` says per
    tensor whether ``T`` applies: a list of booleans, or a rule of :data:`ADAPTIVE_PARAMS` (``names`` needed
    for ``"named_weight"``; under ``"weights_only"`` the other tensors get ``None``); default ``"weights"``
    (``ndim > 1``, for the notebooks' tensor lists). Returns ``eps`` with ``||T^{-1} eps||_2 = rho``.
    """
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(f"params and grads must have the same length, got {len(params)} and {len(grads)}")
    method, rho, p, eta = check_method_args(method, rho, p, eta)
    if adaptive is None or isinstance(adaptive, str):
        rule = adaptive or "weights"
        adaptive = adaptive_flags(params, rule, names)
        grads = [g if keep else None for g, keep in zip(grads, perturbed_flags(params, rule))]
    adaptive = list(adaptive)
    if len(adaptive) != len(params):
        raise ValueError(f"adaptive must have one entry per tensor ({len(params)}), got {len(adaptive)}")
    for i, (w, g) in enumerate(zip(params, grads)):
        if g is not None and g.shape != w.shape:
            raise ValueError(f"grads[{i}] has shape {tuple(g.shape)} but params[{i}] has {tuple(w.shape)}")
    live = [i for i, g in enumerate(grads) if g is not None]
    ws = [params[i] for i in live]
    scales = neighbourhood_scale(ws, method=method, p=p, eta=eta, adaptive=[adaptive[i] for i in live])
    tg = _scaled_gradients([grads[i].detach() for i in live], scales)
    norm = _global_norm(tg)
    factor = torch.where(norm > 0, rho / norm.clamp_min(_TINY), torch.zeros_like(norm))
    eps = _finish(tg, scales, factor)
    out: list[Tensor | None] = [None] * len(params)
    for i, e in zip(live, eps):
        out[i] = e
    return out


def perturbation_norm(params: Sequence[Tensor], eps: Sequence[Tensor | None], *, method: str,
                      p: float = 2.0, eta: float = 0.0, adaptive: Sequence[bool] | str | None = None,
                      names: Sequence[str] | None = None) -> float:
    """``||T^{-1} eps||_2``, the size of ``eps`` in the method's own metric (``rho`` for eps*)."""
    if adaptive is None or isinstance(adaptive, str):
        adaptive = adaptive_flags(params, adaptive or "weights", names)
    live = [i for i, e in enumerate(eps) if e is not None]
    scales = neighbourhood_scale([params[i] for i in live], method=method, p=p, eta=eta,
                                 adaptive=[adaptive[i] for i in live])
    total = 0.0
    for i, t in zip(live, scales):
        e = eps[i]
        v = e if t is None else torch.where(t > 0, e / t.clamp_min(_TINY), torch.zeros_like(e))
        total += float(v.double().pow(2).sum())
    return math.sqrt(total)
