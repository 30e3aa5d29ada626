"""The largest Hessian eigenvalue of the training loss, by power iteration on Hessian-vector products.

``H v`` is computed by double backward (Pearlmutter's trick: ``H v = d/dw <grad L(w), v>``), never forming
``H``. Power iteration ``v <- H v / ||H v||`` converges to the eigenvector of the eigenvalue of largest
*magnitude*; at (or near) a minimum the Hessian is close to positive semi-definite and that is the largest
eigenvalue ``lambda_max``, the sharpness Keskar et al. (2017) relate to their box measure. (Far from a minimum a
large negative eigenvalue could win; the iterates then settle on a negative Rayleigh quotient, which is
reported as it is.) The estimate of iteration ``k`` is the Rayleigh quotient ``v_k^T H v_k`` (``||v_k|| = 1``);
every estimate is returned so convergence can be plotted. The start vector comes from its own seeded
``torch.Generator``; the global RNG is never touched. The model runs in eval mode (BatchNorm running statistics
used, never updated); the weights and ``.grad`` are left as they were.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int, check_number
from ..evaluate import eval_mode
from ._common import MeasureSpec, prepare_inputs, trainable_parameters

__all__ = ["HessianSpec", "hessian_vector_product", "data_hessian_vector_product", "power_iteration",
           "hessian_max_eigenvalue"]


def hessian_vector_product(params: Sequence[Tensor], loss_fn: Callable[[], Tensor],
                           v: Sequence[Tensor]) -> list[Tensor]:
    """``H v`` of the scalar ``loss_fn()`` at the parameters' current values, by double backward."""
    params = list(params)
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    pairs = [(g, u) for g, u in zip(grads, v) if g is not None]
    dot = sum((g * u).sum() for g, u in pairs)
    if not torch.is_tensor(dot) or not dot.requires_grad:
        return [torch.zeros_like(q) for q in params]
    hv = torch.autograd.grad(dot, params, allow_unused=True)
    return [torch.zeros_like(q) if h is None else h.detach() for q, h in zip(params, hv)]


def data_hessian_vector_product(model: nn.Module, params: Sequence[Tensor], x: Tensor, y: Tensor,
                                v: Sequence[Tensor], *, batch_size: int,
                                criterion: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy) -> list[Tensor]:
    """``H v`` of the mean ``criterion`` of ``model`` over all of ``(x, y)``, exact over chunks of ``batch_size``
    (each chunk's loss weighted ``len(chunk) / N``), so every measure gets the full-data Hessian the same way."""
    n = len(y)
    out = [torch.zeros_like(q) for q in params]
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        w = len(yb) / n
        torch._foreach_add_(out, hessian_vector_product(params, lambda: criterion(model(xb), yb) * w, v))
    return out


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    return float(sum((x.double() * y.double()).sum() for x, y in zip(a, b)))


def power_iteration(hvp: Callable[[list[Tensor]], list[Tensor]], like: Sequence[Tensor], *, iters: int = 20,
                    tol: float = 1e-3, seed: int = 0) -> dict:
    """Power iteration on the linear map ``hvp`` (tensors shaped like ``like``); returns a JSON-able dict.

    ``v_0`` is standard normal from ``torch.Generator().manual_seed(seed)`` (drawn on the CPU in the order of
    ``like``, so it does not depend on the device), normalised. Stops after ``iters`` products or when two
    successive estimates differ by less than ``tol * |estimate|``. Keys: ``eigenvalue`` (the last Rayleigh
    quotient), ``iterates`` (every estimate), ``converged``, ``iterations``, ``residual`` (``||Hv - lambda v||``
    of the last vector, a check on the estimate).
    """
    iters = check_int("iters", iters, low=1)
    tol = check_number("tol", tol, low=0.0)
    seed = check_int("seed", seed, low=0)
    like = list(like)
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(t.shape, generator=gen, dtype=torch.float32).to(device=t.device, dtype=t.dtype) for t in like]
    norm = _dot(v, v) ** 0.5
    v = [t / norm for t in v]
    estimates: list[float] = []
    converged = False
    residual = float("nan")
    for _ in range(iters):
        hv = hvp(v)
        lam = _dot(v, hv)
        residual = sum(float((h.double() - lam * u.double()).pow(2).sum()) for h, u in zip(hv, v)) ** 0.5
        estimates.append(lam)
        hnorm = _dot(hv, hv) ** 0.5
        if hnorm == 0.0:
            converged = True
            break
        v = [h / hnorm for h in hv]
        if len(estimates) > 1 and abs(estimates[-1] - estimates[-2]) <= tol * abs(estimates[-1]):
            converged = True
            break
    return {"eigenvalue": estimates[-1], "iterates": estimates, "converged": converged,
            "iterations": len(estimates), "residual": residual}


def hessian_max_eigenvalue(model: nn.Module, x: Tensor, y: Tensor, *, iters: int = 20, tol: float = 1e-3,
                           seed: int = 0, batch_size: int = 500, mean: Sequence[float] | None = None,
                           std: Sequence[float] | None = None, device: torch.device | str | None = None) -> dict:
    """Largest Hessian eigenvalue of the mean cross-entropy of ``model`` over all of ``(x, y)`` (eval mode).

    Each ``H v`` is exact over the data: the chunks of ``batch_size`` samples add up with weights
    ``len(chunk) / N``. Every parameter that requires a gradient is included. See :func:`power_iteration`.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    names, params = trainable_parameters(model)
    x, y = prepare_inputs(x, y, mean=mean, std=std, device=device if device is not None else params[0].device)
    if len(y) == 0:
        raise ValueError("x, y are empty")
    n = len(y)

    def hvp(v: list[Tensor]) -> list[Tensor]:
        return data_hessian_vector_product(model, params, x, y, v, batch_size=batch_size)

    t0 = time.perf_counter()
    with eval_mode(model):
        result = power_iteration(hvp, params, iters=iters, tol=tol, seed=seed)
    result.update(samples=n, seed=seed, tol=tol, seconds=time.perf_counter() - t0)
    return result


@dataclass(frozen=True)
class HessianSpec(MeasureSpec):
    """Settings of :func:`hessian_max_eigenvalue` and its data."""

    iters: int = 20
    tol: float = 1e-3
    seed: int = 0
    split: str = "train"
    max_samples: int | None = 1000
    batch_size: int = 500

    def __post_init__(self) -> None:
        check_int("iters", self.iters, low=1)
        check_number("tol", self.tol, low=0.0)
        check_int("seed", self.seed, low=0)
        self.check_data_fields()

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = False) -> dict:
        """:func:`hessian_max_eigenvalue` of ``model`` on this spec's data (an :class:`samlab.data.ImageData`)."""
        return self.measure_on(hessian_max_eigenvalue, model, data, device=device)
