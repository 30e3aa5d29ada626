"""Keskar et al.'s sharpness (ICLR 2017, Metric 2.1; SAMSON Fig. 9): the largest relative loss rise in a box.

For the flattened parameters ``w`` (``n`` numbers) and a matrix ``A`` (``n x k``), ::

    C_eps = { z in R^k : |z_i| <= eps (|(A^+ w)_i| + 1) },
    phi(eps, A) = 100 * ( max_{z in C_eps} L(w + A z) - L(w) ) / (1 + L(w)),

``A^+`` the pseudo-inverse. ``A = I`` is the full space (box ``|z_i| <= eps (|w_i| + 1)`` on every parameter);
a random ``A`` with ``k`` columns is Keskar et al.'s subspace variant (they use ``k = 100``). The result is
reported as they define it: a percentage of ``1 + L(w)``.

Choices (the SAMSON paper gives neither the box size nor the solver; Keskar et al. give eps 1e-3 and 5e-4 and
"a few" L-BFGS-B iterations, 10 in their experiments):

* ``eps = 1e-3`` by default (5e-4 the other value they report), ``maxiter = 10`` L-BFGS-B iterations
  (scipy ``minimize(method="L-BFGS-B")`` on ``-L`` with the box as ``bounds``, ``jac=True``, start ``z = 0``).
  The maximum reported is the largest loss over every point L-BFGS-B evaluated (all inside the box), so an
  early stop never reports less than the best point seen.
* ``L`` is the mean cross-entropy over all the samples given (Keskar et al. use the training set), exact over
  chunks of ``batch_size``, model in eval mode (BatchNorm running statistics used, never updated).
* All trainable parameters are in ``w`` (Keskar et al.'s ``x``: every weight, bias and BatchNorm scale/shift);
  ``parameters="conv_linear"`` restricts the box to conv/linear weights (the tensors analog noise hits).
* Subspace: ``A`` has i.i.d. N(0, 1) entries drawn on the CPU from ``torch.Generator().manual_seed(seed)``
  (Keskar et al. only say "random"); the global RNG is never touched.
* Computation in float64 on the solver side (scipy), the loss in the model's dtype.

The weights are restored exactly afterwards (:func:`samlab.weights.replaced`), and ``.grad`` is not touched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_number
from ..weights import conv_linear_weights, replaced
from ..evaluate import eval_mode
from ._common import MeasureSpec, data_loss, prepare_inputs, trainable_parameters

__all__ = ["KeskarSpec", "box_maximum", "keskar_sharpness", "KESKAR_PARAMETERS"]

#: Which parameters Keskar's box covers: every trainable one, or the conv/linear weights only.
KESKAR_PARAMETERS = ("all", "conv_linear")


def box_maximum(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], w: np.ndarray, *,
                eps: float = 1e-3, maxiter: int = 10, subspace_dim: int | None = None, seed: int = 0) -> dict:
    """Keskar's ``max_{z in C_eps} L(w + A z)`` by L-BFGS-B, and the sharpness ``phi`` (module docstring).

    ``value_and_grad(delta)`` returns ``L(w + delta)`` and its gradient with respect to ``delta`` (float64
    arrays of ``w``'s size). ``subspace_dim=None`` is the full space (``A = I``). Returns a JSON-able dict.
    """
    from scipy.optimize import Bounds, minimize

    eps = check_number("eps", eps, low=0.0, low_open=True)
    maxiter = check_int("maxiter", maxiter, low=1)
    subspace_dim = check_int("subspace_dim", subspace_dim, low=1, optional=True)
    w = np.asarray(w, dtype=np.float64).ravel()
    if subspace_dim is None:
        a = None
        half = eps * (np.abs(w) + 1.0)
    else:
        gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
        a = torch.randn(w.size, subspace_dim, generator=gen, dtype=torch.float32).double().numpy()
        half = eps * (np.abs(np.linalg.pinv(a) @ w) + 1.0)
    loss0, _ = value_and_grad(np.zeros_like(w))
    best = [float(loss0)]
    nfev = [0]

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        delta = z if a is None else a @ z
        value, grad = value_and_grad(delta)
        grad = np.asarray(grad, dtype=np.float64)
        nfev[0] += 1
        best[0] = max(best[0], float(value))
        return -float(value), -(grad if a is None else a.T @ grad)

    res = minimize(objective, np.zeros_like(half), jac=True, method="L-BFGS-B",
                   bounds=Bounds(-half, half), options={"maxiter": maxiter})
    loss0 = float(loss0)
    return {"sharpness": 100.0 * (best[0] - loss0) / (1.0 + loss0), "loss": loss0, "max_loss": best[0],
            "eps": eps, "maxiter": maxiter, "space": "full" if a is None else "subspace",
            "subspace_dim": subspace_dim, "seed": seed if a is not None else None, "dimension": int(w.size),
            "nfev": nfev[0], "nit": int(res.nit), "solver_message": str(res.message)}


def keskar_sharpness(model: nn.Module, x: Tensor, y: Tensor, *, eps: float = 1e-3, maxiter: int = 10,
                     subspace_dim: int | None = None, seed: int = 0, parameters: str = "all",
                     batch_size: int = 500, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                     device: torch.device | str | None = None) -> dict:
    """Keskar et al.'s sharpness of ``model`` on ``(x, y)`` (module docstring for every choice); JSON-able dict."""
    eps = check_number("eps", eps, low=0.0, low_open=True)
    check_choice("parameters", parameters, KESKAR_PARAMETERS)
    batch_size = check_int("batch_size", batch_size, low=1)
    params = trainable_parameters(model)[1] if parameters == "all" else list(conv_linear_weights(model))
    x, y = prepare_inputs(x, y, mean=mean, std=std, device=device if device is not None else params[0].device)
    if len(y) == 0:
        raise ValueError("x, y are empty")
    flat0 = torch.cat([q.detach().reshape(-1) for q in params])
    sizes = [q.numel() for q in params]
    t0 = time.perf_counter()

    def value_and_grad(delta: np.ndarray) -> tuple[float, np.ndarray]:
        d = torch.as_tensor(delta, device=flat0.device).to(flat0.dtype)
        with torch.no_grad():
            new = (flat0 + d).split(sizes)
            for q, v in zip(params, new):
                q.copy_(v.view_as(q))
        loss, grads = data_loss(model, x, y, batch_size, params)
        return loss, torch.cat([g.reshape(-1) for g in grads]).double().cpu().numpy()

    with eval_mode(model), replaced(params, [q.detach().clone() for q in params]):
        result = box_maximum(value_and_grad, flat0.double().cpu().numpy(), eps=eps, maxiter=maxiter,
                             subspace_dim=subspace_dim, seed=seed)
    result.update(parameters=parameters, samples=len(y), seconds=time.perf_counter() - t0)
    return result


@dataclass(frozen=True)
class KeskarSpec(MeasureSpec):
    """Settings of :func:`keskar_sharpness` and its data."""

    eps: float = 1e-3
    maxiter: int = 10
    subspace_dim: int | None = None
    seed: int = 0
    parameters: str = "all"
    split: str = "train"
    max_samples: int | None = None
    batch_size: int = 500

    def __post_init__(self) -> None:
        check_number("eps", self.eps, low=0.0, low_open=True)
        check_int("maxiter", self.maxiter, low=1)
        check_int("subspace_dim", self.subspace_dim, low=1, optional=True)
        check_int("seed", self.seed, low=0)
        check_choice("parameters", self.parameters, KESKAR_PARAMETERS)
        self.check_data_fields()

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = False) -> dict:
        """:func:`keskar_sharpness` of ``model`` on this spec's data (an :class:`samlab.data.ImageData`)."""
        return self.measure_on(keskar_sharpness, model, data, device=device)
