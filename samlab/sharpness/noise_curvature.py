"""Noise curvature: the expected loss rise under conductance noise, to second order, by Hutchinson probes.

The noise model (SAMSON eq. 7-8, :mod:`samlab.noise`): every Conv/Linear weight becomes ``w_i' = w_i delta_i``
with ``delta_i ~ N(1, sigma_c^2)`` independent; biases and BatchNorm stay noise-free. Write the displacement as
``w' - w = D_W u`` with ``D_W = diag(w)`` and ``u = delta - 1 ~ N(0, sigma_c^2 I)``. Taylor's theorem at ``w``,

    E[L(W')] - L(W) = g^T D_W E[u] + 1/2 E[u^T D_W H D_W u] + O(sigma_c^4)
                    = (sigma_c^2 / 2) tr(D_W H D_W) + O(sigma_c^4)
                    = (sigma_c^2 / 2) sum_i w_i^2 H_ii + O(sigma_c^4),

``g`` and ``H`` the gradient and Hessian of the loss over the Conv/Linear weights. The first-order term vanishes
because ``E[u] = 0`` (at any ``w``, not only at a minimum); the third-order term because odd moments of ``u``
vanish. The remainder is O(sigma_c^4) where the loss is smooth along the noise (tanh, GELU, softplus). A
network with kinks (ReLU, max-pooling) is smooth around ``w`` only within the distance of its nearest
pre-activation to a kink: the Hessian, taken where the network is locally smooth, cannot see a pre-activation
that the noise pushes across its kink, and each one that lies within about ``sigma_c`` of it adds a term of order
``sigma_c`` (not ``sigma_c^2``), of either sign. With many samples some always lie that close, and together they
are of the same order as the prediction: on a small ReLU MLP with 64 samples (tests/test_noise_curvature.py)
the Monte-Carlo rise is 1.01 +- 0.014 times the prediction at sigma_c = 1e-3 but 0.23 times it at 0.02. For such
networks the prediction is the smooth part of the curvature; compare it with a Monte-Carlo noise evaluation
before reading it as the expected loss rise at a given sigma_c. The prediction is for fixed BatchNorm
statistics: it compares with :func:`samlab.noise.noise_curve` run with ``adabs=False``, not with AdaBS
re-estimating them after the noise.

The trace is estimated with Hutchinson's estimator (Hutchinson 1990): for Rademacher ``z`` (entries +-1 with
probability 1/2), ``E[z^T M z] = tr(M)``, and with ``M = D_W H D_W`` each probe costs one Hessian-vector product:
``z^T D H D z = (D z)^T H (D z)``, by double backward (:func:`samlab.sharpness.hessian.hessian_vector_product`,
exact over the whole data in chunks). With a diagonal ``M`` every probe is exact; otherwise a probe's variance is
``2 sum_{i != j} M_ij^2``, and the estimate is the mean over ``probes`` with its standard error
``std / sqrt(probes)``. Because ``E[(D z)_l^T (H D z)_l] = tr(D_l H_ll D_l)``, the same probes also give each
layer's share. The probes come from ``torch.Generator().manual_seed(seed)`` on the CPU, in the order of the
weights (independent of the device); the global RNG is never touched.

Why a weight-scaled sharpness: noise of this kind moves weight ``i`` by ``w_i u_i``, so the loss rise it causes
is curvature measured in the metric scaled by ``|w|``, the matrix ``D_W H D_W``, not ``H``. ASAM (eq. 3-4) and
SAMSON (eq. 5-6) measure sharpness in neighbourhoods ``||eps / |w| ||_2 <= rho`` (SAMSON further scales each
layer by a norm of its weights), whose worst case at a minimum is to second order ``rho^2 / 2`` times the largest
eigenvalue of the same ``D_W H D_W``, while the expected rise under noise is ``sigma_c^2 / 2`` times its trace:
one matrix, its largest eigenvalue against its eigenvalues' sum. SAM's ball sees ``H`` itself, which a
function-preserving rescaling of a ReLU network (a unit's input weights and bias times ``a > 0``, its output
weights divided by ``a``) changes at will although the network and all its noisy copies compute the same
functions as before; ``D_W H D_W`` is invariant under it (in coordinates ``log|w|`` the rescaling is a
translation). No seed paper states this link: it is the argument, not a result
of theirs, for expecting a weight-scaled (adaptive) sharpness to predict robustness to multiplicative noise.

The model runs in eval mode (BatchNorm uses its running statistics, never updates them); the weights, buffers,
every module's training flag, the weights' ``requires_grad`` and ``.grad`` are left as they were, also when the
computation raises.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int, check_number
from ..weights import conv_linear_weights
from ..evaluate import eval_mode
from ._common import MeasureSpec, prepare_inputs
from .hessian import data_hessian_vector_product

__all__ = ["NoiseCurvatureSpec", "noise_curvature", "predicted_loss_rise", "rademacher_probes",
           "NOISE_CURVATURE_SIGMAS"]

#: sigma_c values whose predicted rise :func:`noise_curvature` reports by default (those of SAMSON Fig. 2).
NOISE_CURVATURE_SIGMAS = (0.1, 0.2, 0.3, 0.4)


def _check_sigmas(sigmas: float | Sequence[float]) -> list[float]:
    """``sigmas`` (one number or a sequence) as a list of floats >= 0, else ValueError naming the value."""
    if isinstance(sigmas, numbers.Real) or (isinstance(sigmas, Tensor) and sigmas.ndim == 0):
        return [check_number("sigmas", sigmas, low=0.0)]
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Iterable):
        raise ValueError(f"sigmas={sigmas!r} must be a number >= 0 or a sequence of them")
    return [check_number(f"sigmas[{i}]", s, low=0.0) for i, s in enumerate(sigmas)]


def rademacher_probes(like: Sequence[Tensor], generator: torch.Generator) -> list[Tensor]:
    """One Rademacher probe (entries +-1) shaped like ``like``, drawn on the CPU so it is the same on any device."""
    return [torch.randint(0, 2, tuple(t.shape), generator=generator).mul_(2).sub_(1)
            .to(device=t.device, dtype=t.dtype) for t in like]


@contextlib.contextmanager
def _differentiable(params: Sequence[Tensor]) -> Iterator[None]:
    """Within the block every tensor of ``params`` requires a gradient (noise hits frozen weights too)."""
    flags = [q.requires_grad for q in params]
    try:
        for q in params:
            q.requires_grad_(True)
        yield
    finally:
        for q, flag in zip(params, flags):
            q.requires_grad_(flag)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample std over ``sqrt(n)``) of at least two values."""
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def _weight_names(model: nn.Module, weights: Sequence[Tensor]) -> list[str]:
    """The parameter name of each weight (as ``model.named_parameters()`` spells it)."""
    names = {id(q): n for n, q in model.named_parameters()}
    return [names.get(id(w), f"weight{i}") for i, w in enumerate(weights)]


def _mean_loss(model: nn.Module, x: Tensor, y: Tensor, batch_size: int,
               criterion: Callable[[Tensor, Tensor], Tensor]) -> float:
    """Mean ``criterion`` over all of ``(x, y)`` in chunks of ``batch_size`` (weights ``len(chunk) / N``)."""
    n = len(y)
    with torch.no_grad():
        return math.fsum(float(criterion(model(x[s:s + batch_size]), y[s:s + batch_size])) * len(y[s:s + batch_size])
                         / n for s in range(0, n, batch_size))


def noise_curvature(model: nn.Module, x: Tensor, y: Tensor, *, probes: int = 64, seed: int = 0,
                    sigmas: float | Sequence[float] = NOISE_CURVATURE_SIGMAS, batch_size: int = 500,
                    criterion: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
                    mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                    device: torch.device | str | None = None) -> dict:
    """Hutchinson estimate of ``tr(D_W H D_W)`` over the Conv/Linear weights (module docstring); JSON-able dict.

    ``L`` is the mean ``criterion`` (cross-entropy by default; any mean-reduced ``criterion(output, y)``) over all
    of ``(x, y)``, exact over chunks of ``batch_size``, model in eval mode. ``x`` is float inputs, or uint8 images
    with the data set's ``mean``/``std``. Keys: ``trace`` (the estimate) and ``trace_se`` (its standard error over
    probes), ``probes``, ``per_probe`` (each probe's ``z^T D H D z``), ``layers`` with ``layer_trace`` and
    ``layer_trace_se`` (each weight's share, same probes), ``loss`` (``L(W)``), ``weight_sq`` (``sum w_i^2``),
    ``dimension``, ``samples``, ``seed``, ``seconds``, and ``predicted`` (:func:`predicted_loss_rise` at ``sigmas``).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} must be a torch.nn.Module")
    probes = check_int("probes", probes, low=2)
    seed = check_int("seed", seed, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    sigma_list = _check_sigmas(sigmas)
    if not callable(criterion):
        raise ValueError(f"criterion={criterion!r} must be a callable criterion(output, y) -> mean loss")
    weights = list(conv_linear_weights(model))
    if not weights:
        raise ValueError(f"model={type(model).__name__} has no Conv/Linear weight: conductance noise (eq. 7-8) "
                         "acts on the weights of Conv1d/2d/3d and Linear layers only")
    x, y = prepare_inputs(x, y, mean=mean, std=std, device=device if device is not None else weights[0].device)
    if len(y) == 0:
        raise ValueError("x, y are empty")
    gen = torch.Generator().manual_seed(seed)
    w0 = [w.detach() for w in weights]
    per_layer: list[list[float]] = [[] for _ in weights]
    t0 = time.perf_counter()
    with eval_mode(model), _differentiable(weights):
        loss = _mean_loss(model, x, y, batch_size, criterion)
        for _ in range(probes):
            v = [w * z for w, z in zip(w0, rademacher_probes(w0, gen))]
            hv = data_hessian_vector_product(model, weights, x, y, v, batch_size=batch_size, criterion=criterion)
            for acc, a, b in zip(per_layer, v, hv):
                acc.append(float((a.double() * b.double()).sum()))
    per_probe = [math.fsum(col) for col in zip(*per_layer)]
    trace, trace_se = _mean_se(per_probe)
    layer_stats = [_mean_se(acc) for acc in per_layer]
    result = {
        "trace": trace, "trace_se": trace_se, "probes": probes, "per_probe": per_probe,
        "layers": _weight_names(model, weights), "layer_trace": [m for m, _ in layer_stats],
        "layer_trace_se": [s for _, s in layer_stats], "loss": loss,
        "weight_sq": math.fsum(float(w.double().pow(2).sum()) for w in w0),
        "dimension": sum(w.numel() for w in w0), "samples": len(y), "seed": seed,
        "seconds": time.perf_counter() - t0,
    }
    result["predicted"] = predicted_loss_rise(result, sigma_list)
    return result


def predicted_loss_rise(result: Mapping[str, Any], sigmas: float | Sequence[float]) -> dict:
    """The second-order expected loss rise ``(sigma_c^2 / 2) tr(D_W H D_W)`` at each sigma_c, with its standard
    error from the probes: the prediction to set beside a measured noise curve (valid while sigma_c is small).

    ``result`` is what :func:`noise_curvature` returned (its ``trace`` and ``trace_se``). Keys: ``sigmas``,
    ``rise`` and ``rise_se``, lists in the order of ``sigmas``.
    """
    if not isinstance(result, Mapping) or "trace" not in result or "trace_se" not in result:
        raise ValueError("result must be the dict noise_curvature returned (with 'trace' and 'trace_se')")
    sigma_list = _check_sigmas(sigmas)
    trace, se = float(result["trace"]), float(result["trace_se"])
    return {"sigmas": sigma_list, "rise": [0.5 * s * s * trace for s in sigma_list],
            "rise_se": [0.5 * s * s * se for s in sigma_list]}


@dataclass(frozen=True)
class NoiseCurvatureSpec(MeasureSpec):
    """Settings of :func:`noise_curvature` and its data."""

    probes: int = 64
    seed: int = 0
    sigmas: tuple[float, ...] = NOISE_CURVATURE_SIGMAS
    split: str = "train"
    max_samples: int | None = 1000
    batch_size: int = 500

    def __post_init__(self) -> None:
        check_int("probes", self.probes, low=2)
        check_int("seed", self.seed, low=0)
        object.__setattr__(self, "sigmas", tuple(_check_sigmas(self.sigmas)))
        self.check_data_fields()

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = False) -> dict:
        """:func:`noise_curvature` of ``model`` on this spec's data (an :class:`samlab.data.ImageData`)."""
        return self.measure_on(noise_curvature, model, data, device=device)
