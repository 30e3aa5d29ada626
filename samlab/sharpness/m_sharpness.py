"""m-sharpness (SAMSON eq. 10-12; Foret et al. 2021): the mean worst-case loss rise over batches of m samples.

For a training set split into ``n`` batches ``S`` of ``m`` samples,

    m-sharpness = 1/n  sum_S  max_{||T^{-1} eps||_2 <= rho}  [ 1/m sum_{s in S} l_s(w + eps) - l_s(w) ],

with the neighbourhood transform ``T`` of :mod:`samlab.perturbation`:

* SAM (eq. 11, Fig. 7, rho 0.05): ``T = 1``, the ball ``||eps||_2 <= rho``.
* ASAM (eq. 12, Fig. 8, rho 0.5): ``T = |w|`` (eq. 12 has no eta, so ``eta=0`` is this module's default;
  pass ``eta=0.01`` for the training-time neighbourhood ``|w| + eta``).
* SAMSON (eq. 10, Figs. 3-4, rho 0.5, p = 2 and inf): ``T = |w| / ||W||_p``, the ellipsoid of eq. 5,
  ``||eps ||W||_p / |w| ||_2 <= rho``. Eq. 10 *as printed* writes ``||eps ||W||_p^{-1} / |w| ||_2 <= rho``, which
  inverts eq. 5's factor ``||W||_p`` (a neighbourhood that grows with the layer's outlier instead of shrinking
  with it, and not the one the optimizer's eq. 6 solves). We use eq. 5's form, the one SAMSON trains with.

Which tensors ``T`` applies to, and which are perturbed at all, follows the optimizer's rule
(``adaptive``, default :data:`samlab.perturbation.DEFAULT_ADAPTIVE`: SAMSON perturbs conv/linear weights only).

The inner maximisation:

* ``steps=1`` (default, as Foret et al. and SAMSON): one ascent step from ``w``, the first-order maximiser
  ``eps* = rho T^2 g / ||T g||_2`` of :func:`samlab.perturbation.worst_case_perturbation` (eq. 2/4/6), and the
  rise ``L_S(w + eps*) - L_S(w)`` (which a strongly curved batch could in principle make negative).
* ``steps=k > 1``: projected gradient ascent in the method's own metric. In ``u = T^{-1} eps`` the neighbourhood
  is the ball ``||u||_2 <= rho``; each step moves ``u`` by ``step_size`` along the normalised gradient
  ``T g / ||T g||`` (i.e. ``eps += worst_case_perturbation(..., rho=step_size)`` with ``g`` taken at
  ``w + eps`` and ``T`` at the unperturbed ``w``), then projects back onto the ball:
  ``eps <- eps * min(1, rho / ||T^{-1} eps||_2)`` (the norm is :func:`samlab.perturbation.perturbation_norm`,
  summed in float64). Default ``step_size = 2.5 rho / k`` (Madry et al.'s PGD rule); the rise is the largest
  over the ``k`` iterates (each is inside the neighbourhood).

The model runs in eval mode (BatchNorm uses its running statistics and never updates them); every module's
training flag, the exact weights and the parameters' ``.grad`` are left as they were. The last ``len % m``
samples are dropped (eq. 10 has ``n`` batches of exactly ``m``: a smaller batch has a systematically larger
rise). Gradients come from ``torch.autograd.grad``, so ``.grad`` fields are never touched.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_number
from ..methods import DEFAULT_RHO, GEOMETRIES
from ..perturbation import (ADAPTIVE_PARAMS, DEFAULT_ADAPTIVE, adaptive_flags, check_method_args, perturbation_norm,
                            perturbed_flags, worst_case_perturbation)
from ..weights import perturbed
from ..evaluate import eval_mode
from ._common import MeasureSpec, json_float, prepare_inputs, trainable_parameters

__all__ = ["MSharpnessSpec", "worst_case_loss", "m_sharpness", "perturbation_shares", "PerturbationShareSpec"]


def _check_m(m: object, n: int) -> int:
    m = check_int("m", m, low=1)
    if m > n:
        raise ValueError(f"m={m} is larger than the data set ({n} samples); allowed: 1 <= m <= {n}")
    return m


def worst_case_loss(params: Sequence[Tensor], loss_fn: Callable[[], Tensor], *, method: str, rho: float,
                    p: float = 2.0, eta: float = 0.0, adaptive: str | Sequence[bool] | None = None,
                    names: Sequence[str] | None = None, steps: int = 1,
                    step_size: float | None = None) -> tuple[float, float]:
    """``(L(w), max L(w + eps))`` with eps in the method's neighbourhood of radius ``rho`` (module docstring).

    ``loss_fn()`` returns the scalar loss at the parameters' current values (it is called with them moved to
    ``w + eps`` in place); the parameters are restored exactly. One step: eq. 2/4/6's ``eps*``; k steps:
    projected gradient ascent.
    """
    params = list(params)
    method, rho, p, eta = check_method_args(method, rho, p, eta)
    steps = check_int("steps", steps, low=1)
    if step_size is None:
        step_size = rho if steps == 1 else 2.5 * rho / steps
    step_size = check_number("step_size", step_size, low=0.0)
    if adaptive is None or isinstance(adaptive, str):
        rule = adaptive or DEFAULT_ADAPTIVE[method]
        flags = adaptive_flags(params, rule, names)
        keep = perturbed_flags(params, rule)
    else:
        flags, keep = list(adaptive), [True] * len(params)
    w0 = [q.detach().clone() for q in params]

    def grad_at_current() -> tuple[float, list[Tensor | None]]:
        loss = loss_fn()
        live = [i for i, k in enumerate(keep) if k]
        gs = torch.autograd.grad(loss, [params[i] for i in live], allow_unused=True)
        out: list[Tensor | None] = [None] * len(params)
        for i, g in zip(live, gs):
            out[i] = g
        return float(loss.detach()), out

    loss0, grads = grad_at_current()
    eps: list[Tensor | None] = [None] * len(params)
    best = -math.inf
    for k in range(steps):
        step = worst_case_perturbation(w0, grads, method=method, rho=step_size, p=p, eta=eta, adaptive=flags)
        eps = [s if e is None else (e if s is None else e + s) for e, s in zip(eps, step)]
        if steps > 1 or step_size > rho:
            norm = perturbation_norm(w0, eps, method=method, p=p, eta=eta, adaptive=flags)
            if norm > rho:
                factor = rho / norm
                eps = [None if e is None else e * factor for e in eps]
        with perturbed(params, eps):
            if k < steps - 1:
                loss_k, grads = grad_at_current()
            else:
                with torch.no_grad():
                    loss_k = float(loss_fn())
        best = max(best, loss_k)
    return loss0, best


def m_sharpness(model: nn.Module, x: Tensor, y: Tensor, *, m: int = 128, method: str = "samson",
                rho: float | None = None, p: float = 2.0, eta: float = 0.0, steps: int = 1,
                step_size: float | None = None, adaptive: str | Sequence[bool] | None = None,
                seed: int | None = None, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                device: torch.device | str | None = None, progress: bool = False) -> dict:
    """m-sharpness of ``model`` on ``(x, y)`` (eq. 10-12; see the module docstring); returns a JSON-able dict.

    ``x`` is float inputs, or uint8 images with the data set's ``mean``/``std``. ``seed`` shuffles the samples
    into batches with its own generator (``None``: the given order). ``rho=None`` takes the paper default
    (SAM 0.05, ASAM/SAMSON 0.5). Keys: ``m_sharpness`` (the mean rise), ``rise_std``, ``loss`` and
    ``perturbed_loss`` (means over batches), ``per_batch`` (the rises), and the settings.
    """
    method = check_choice("method", method, GEOMETRIES)
    rho = DEFAULT_RHO[method] if rho is None else rho
    method, rho, p, eta = check_method_args(method, rho, p, eta)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    m = _check_m(m, len(y))
    steps = check_int("steps", steps, low=1)
    if isinstance(adaptive, str):
        check_choice("adaptive", adaptive, ADAPTIVE_PARAMS)
    seed = check_int("seed", seed, low=0, optional=True)
    names, params = trainable_parameters(model)
    dev = device if device is not None else params[0].device
    order = None if seed is None else torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_batches = len(y) // m
    rises, losses, worst = [], [], []
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_batches, desc=f"m-sharpness ({method})", leave=False)
    try:
        with eval_mode(model):
            for b in range(n_batches):
                idx = slice(b * m, (b + 1) * m) if order is None else order[b * m:(b + 1) * m]
                xb, yb = prepare_inputs(x[idx], y[idx], mean=mean, std=std, device=dev)
                l0, l1 = worst_case_loss(params, lambda: F.cross_entropy(model(xb), yb), method=method, rho=rho,
                                         p=p, eta=eta, adaptive=adaptive, names=names, steps=steps,
                                         step_size=step_size)
                losses.append(l0)
                worst.append(l1)
                rises.append(l1 - l0)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    mean_rise = sum(rises) / n_batches
    var = sum((r - mean_rise) ** 2 for r in rises) / max(n_batches - 1, 1)
    return {
        "m_sharpness": mean_rise, "rise_std": math.sqrt(var), "loss": sum(losses) / n_batches,
        "perturbed_loss": sum(worst) / n_batches, "per_batch": rises, "n_batches": n_batches, "m": m,
        "samples_used": n_batches * m, "method": method, "rho": rho, "p": json_float(p), "eta": eta,
        "steps": steps, "step_size": json_float(rho if step_size is None and steps == 1 else
                                                (2.5 * rho / steps if step_size is None else step_size)),
        "adaptive": adaptive if isinstance(adaptive, str) else (DEFAULT_ADAPTIVE[method] if adaptive is None
                                                                else "custom"),
        "seed": seed, "seconds": time.perf_counter() - t0,
    }


@dataclass(frozen=True)
class MSharpnessSpec(MeasureSpec):
    """What an m-sharpness result is: the settings of :func:`m_sharpness` and the data it runs on. Paper settings:
    SAM rho 0.05 (Fig. 7), ASAM rho 0.5 (Fig. 8), SAMSON rho 0.5 with p = 2 / inf (Figs. 3-4), m = 128 on CIFAR."""

    method: str = "samson"
    rho: float | None = None
    p: float = 2.0
    eta: float = 0.0
    m: int = 128
    steps: int = 1
    step_size: float | None = None
    adaptive: str | None = None
    split: str = "train"
    max_samples: int | None = None
    seed: int | None = 0

    def __post_init__(self) -> None:
        method, rho, p, eta = check_method_args(self.method, self.rho, self.p, self.eta)
        object.__setattr__(self, "rho", rho)        # None -> the paper default: one result, one key
        check_int("m", self.m, low=1)
        check_int("steps", self.steps, low=1)
        if self.step_size is not None:
            check_number("step_size", self.step_size, low=0.0)
        if self.adaptive is not None:
            check_choice("adaptive", self.adaptive, ADAPTIVE_PARAMS)
        self.check_data_fields()
        check_int("seed", self.seed, low=0, optional=True)

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = False) -> dict:
        """:func:`m_sharpness` of ``model`` on this spec's data (an :class:`samlab.data.ImageData`)."""
        return self.measure_on(m_sharpness, model, data, device=device, progress=progress)


def perturbation_shares(model: nn.Module, x: Tensor, y: Tensor, *, m: int = 128, method: str = "asam",
                        rho: float | None = None, p: float = 2.0, eta: float = 0.0, adaptive: str | None = None,
                        mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                        device: torch.device | str | None = None) -> dict:
    """Where the first-order worst-case perturbation of each m-sharpness batch puts its size: the share of
    ``||eps||_2^2`` on the Conv/Linear weights (``ndim > 1``: the tensors conductance noise acts on) and on the
    rest (BatchNorm scales and shifts, biases), averaged over the ``len(y) // m`` batches (model in eval mode).

    ASAM's ``T = |w| + eta`` applies to weights only (the ``"weights"`` rule), so a bias or BatchNorm tensor is
    perturbed in SAM's plain ball while a weight's step is scaled by ``w^2``: small weights leave most of the
    budget to the tensors that conductance noise never touches. Keys: ``weight_share`` and ``other_share``
    (means over batches of each batch's ``sum eps^2`` share), ``weight_share_min``/``max``, ``n_batches``."""
    method = check_choice("method", method, GEOMETRIES)
    method, rho, p, eta = check_method_args(method, DEFAULT_RHO[method] if rho is None else rho, p, eta)
    m = _check_m(m, len(y))
    names, params = trainable_parameters(model)
    rule = adaptive or DEFAULT_ADAPTIVE[method]
    flags, keep = adaptive_flags(params, rule, names), perturbed_flags(params, rule)
    dev = device if device is not None else params[0].device
    is_weight = [q.ndim > 1 for q in params]
    shares = []
    with eval_mode(model):
        for b in range(len(y) // m):
            xb, yb = prepare_inputs(x[b * m:(b + 1) * m], y[b * m:(b + 1) * m], mean=mean, std=std, device=dev)
            live = [q for q, k in zip(params, keep) if k]
            gs = iter(torch.autograd.grad(F.cross_entropy(model(xb), yb), live, allow_unused=True))
            grads = [next(gs) if k else None for k in keep]
            eps = worst_case_perturbation([q.detach() for q in params], grads, method=method, rho=rho, p=p, eta=eta,
                                          adaptive=flags)
            sq = [0.0 if e is None else float(e.double().pow(2).sum()) for e in eps]
            total = math.fsum(sq)
            shares.append(math.fsum(v for v, w in zip(sq, is_weight) if w) / total if total > 0 else math.nan)
    share = sum(shares) / len(shares)
    return {"weight_share": share, "other_share": 1.0 - share, "weight_share_min": min(shares),
            "weight_share_max": max(shares), "n_batches": len(shares), "m": m, "method": method, "rho": rho,
            "eta": eta, "adaptive": rule}


@dataclass(frozen=True)
class PerturbationShareSpec(MeasureSpec):
    """Settings of :func:`perturbation_shares` and its data (default: ASAM's m-sharpness neighbourhood of Fig. 8)."""

    method: str = "asam"
    rho: float | None = None
    p: float = 2.0
    eta: float = 0.0
    m: int = 128
    adaptive: str | None = None
    split: str = "train"
    max_samples: int | None = None

    def __post_init__(self) -> None:
        check_method_args(self.method, self.rho, self.p, self.eta)
        check_int("m", self.m, low=1)
        if self.adaptive is not None:
            check_choice("adaptive", self.adaptive, ADAPTIVE_PARAMS)
        self.check_data_fields()

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = False) -> dict:
        """:func:`perturbation_shares` of ``model`` on this spec's data."""
        return self.measure_on(perturbation_shares, model, data, device=device)
