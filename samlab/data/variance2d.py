"""The 2-D two-class data set whose variance is a parameter (ASAM report, section II, Figs. 5-6).

The report only says "a toy 2D dataset drawn from a known distribution whose variance can be controlled"
(2,000 points, variances 5 to 80 shown). samlab's choice, an *XOR of four Gaussians*:

* four isotropic Gaussian blobs with per-coordinate variance ``variance`` (sigma^2) centred at
  ``(+a, +a)``, ``(-a, -a)`` (class 0) and ``(+a, -a)``, ``(-a, +a)`` (class 1), ``a = offset = 10``;
* equal class sizes, each class split equally over its two blobs, points shuffled.

Why: the classes need the hidden ReLU layers (the Bayes boundary is the two axes, not a line), small
variances are separable with a wide margin (so where a network puts its boundary inside the gap is
decided by the optimizer, which is what the study probes), and the Bayes error is known in closed form,
``2 q (1 - q)`` with ``q = Phi(a / sigma)`` (:func:`variance2d_bayes_error`): 0.0 % at sigma^2 = 5,
6.6 % at 30, 23 % at 80.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..checks import check_number

__all__ = ["VARIANCE2D_OFFSET", "make_variance2d", "variance2d_bayes_error"]

#: Distance ``a`` of each blob centre from both axes (the centres sit at ``(+-a, +-a)``).
VARIANCE2D_OFFSET = 10.0

_SIGNS = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])  # blobs 0,1 -> class 0; 2,3 -> class 1


def make_variance2d(variance: float, n: int = 2000, *, offset: float = VARIANCE2D_OFFSET,
                    seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` points ``(X float32 (n, 2), y int64 (n,))`` of the XOR-of-four-Gaussians set (see module doc).

    The same ``(variance, n, offset, seed)`` always gives the same points; the blob of each point and the
    standard-normal noise do not depend on ``variance``, so sets with different variances but one seed are
    the same draw scaled (a test sweep over variances is then free of sampling noise between its points).
    """
    variance = check_number("variance", variance, low=0.0)
    offset = check_number("offset", offset, low=0.0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} must be an integer")
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2                           # balanced classes
    blob = 2 * y + (torch.arange(n) // 2) % 2         # two blobs per class, balanced within the class
    perm = torch.randperm(n, generator=gen)
    y, blob = y[perm], blob[perm]
    noise = torch.randn(n, 2, generator=gen)
    x = _SIGNS[blob] * offset + math.sqrt(variance) * noise
    return x.float(), y.long()


def variance2d_bayes_error(variance: float, *, offset: float = VARIANCE2D_OFFSET) -> float:
    """The lowest error any classifier can reach on the set: ``2 q (1 - q)``, ``q = Phi(offset / sigma)``.

    The class densities differ in sign exactly as ``x1 * x2`` does, so the Bayes rule is "class 0 iff
    x1 x2 > 0"; it errs when exactly one coordinate falls on the wrong side of its axis.
    """
    variance = check_number("variance", variance, low=0.0)
    offset = check_number("offset", offset, low=0.0)
    if variance == 0.0:
        return 0.0 if offset > 0 else 0.5
    q = 0.5 * (1.0 + math.erf(offset / math.sqrt(2.0 * variance)))
    return 2.0 * q * (1.0 - q)
