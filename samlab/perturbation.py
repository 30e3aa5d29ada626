"""Worst-case weight perturbations of SAM, ASAM and SAMSON: pure maths, no optimizer state.

All three methods solve the first-order inner maximisation of an (adaptive) sharpness-aware objective,

    max_{||T^{-1} eps||_2 <= rho} L(w + eps)  ->  eps* = rho * T^2 grad / ||T grad||_2    (elementwise),

and differ only in the diagonal neighbourhood transform ``T`` (SAMSON paper, arXiv 2211.11561):

* SAM    (eq. 1-2): ``T = 1``                      -> ``eps = rho * g / ||g||_2``
* ASAM   (eq. 3-4): ``T = |w| + eta``              -> ``eps = rho * T^2 g / ||T g||_2``
* SAMSON (eq. 5-6): ``T = |w| / ||W||_p (+ eta)``  with ``W`` the whole tensor (layer) holding ``w``;
  any ``p >= 1`` including ``p = inf`` (max-abs, the layer's outlier weight).

``T`` applies only to tensors marked *adaptive* (by default those with more than one dimension, i.e.
conv/linear weights, as in the official ASAM code); biases and norm-layer affine parameters use ``T = 1``.
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

__all__ = ["neighbourhood_scale", "worst_case_perturbation",
           "perturbation_norm", "check_method_args"]

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
                            adaptive: Sequence[bool] | None = None) -> list[Tensor | None]:
    """First-order worst-case perturbation ``eps*`` of SAM (eq. 2), ASAM (eq. 4) or SAMSON (eq. 6).

    ``params`` and ``grads`` are matching lists of tensors; a ``None`` gradient means that tensor is not
    perturbed (its entry in the result is ``None``) and does not enter the norm. ``adaptive`` says per
    tensor whether ``T`` applies (default: ``ndim > 1``). Returns ``eps`` with ``||T^{-1} eps||_2 = rho``.
    """
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(f"params and grads must have the same length, got {len(params)} and {len(grads)}")
    method, rho, p, eta = check_method_args(method, rho, p, eta)
    if adaptive is None:
        adaptive = [w.ndim > 1 for w in params]
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
                      p: float = 2.0, eta: float = 0.0, adaptive: Sequence[bool] | None = None) -> float:
    """``||T^{-1} eps||_2``, the size of ``eps`` in the method's own metric (``rho`` for eps*)."""
    if adaptive is None:
        adaptive = [w.ndim > 1 for w in params]
    live = [i for i, e in enumerate(eps) if e is not None]
    scales = neighbourhood_scale([params[i] for i in live], method=method, p=p, eta=eta,
                                 adaptive=[adaptive[i] for i in live])
    total = 0.0
    for i, t in zip(live, scales):
        e = eps[i]
        v = e if t is None else torch.where(t > 0, e / t.clamp_min(_TINY), torch.zeros_like(e))
        total += float(v.double().pow(2).sum())
    return math.sqrt(total)
