"""Helpers shared by the sharpness measures: eval mode with flags restored, inputs, losses over batches, specs."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_choice, check_int
from ..data.images import normalize
from ..data.splits import SPLITS
from ..evaluate import eval_mode

__all__ = ["prepare_inputs", "data_loss", "trainable_parameters", "json_float", "select_samples",
           "MeasureSpec"]


def prepare_inputs(x: Tensor, y: Tensor, *, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """``(x, y)`` on ``device`` with ``x`` as float model inputs: uint8 images are normalised with ``mean``/``std``
    (:func:`samlab.data.normalize`), float inputs are taken as they are."""
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError("x and y must be tensors")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    if x.dtype == torch.uint8:
        if mean is None or std is None:
            raise ValueError("x holds uint8 images: pass mean= and std= (the data set's ImageData.mean/std)")
        x = normalize(x.to(device) if device is not None else x, mean, std)
    elif device is not None:
        x = x.to(device)
    return x, (y.to(device) if device is not None else y)


def trainable_parameters(model: nn.Module) -> tuple[list[str], list[nn.Parameter]]:
    """Names and tensors of ``model``'s parameters that require a gradient (each tensor once)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no parameter that requires a gradient")
    return [n for n, _ in named], [p for _, p in named]


def data_loss(model: nn.Module, x: Tensor, y: Tensor, batch_size: int,
              params: Sequence[Tensor] | None = None) -> tuple[float, list[Tensor] | None]:
    """Mean cross-entropy of ``model`` over all of ``(x, y)`` in chunks of ``batch_size``; with ``params`` also its
    exact gradient with respect to them (summed chunk by chunk with weights ``len(chunk) / N``)."""
    n = len(y)
    total = 0.0
    grads: list[Tensor] | None = None
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        w = len(yb) / n
        if params is None:
            with torch.no_grad():
                total += F.cross_entropy(model(xb), yb).item() * w
            continue
        loss = F.cross_entropy(model(xb), yb)
        gs = torch.autograd.grad(loss * w, list(params), allow_unused=True)
        gs = [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]
        grads = gs if grads is None else [a.add_(b) for a, b in zip(grads, gs)]
        total += loss.item() * w
    return total, grads


def json_float(value: float) -> float | str:
    """``value`` as JSON can hold it: finite floats as they are, infinities as ``"inf"``/``"-inf"``."""
    value = float(value)
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def select_samples(x: Tensor, y: Tensor, max_samples: int | None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A fixed random subset of ``max_samples`` samples (generator seeded with ``seed``, original order kept);
    everything when ``max_samples`` is None or not smaller than the data."""
    max_samples = check_int("max_samples", max_samples, low=1, optional=True)
    if max_samples is None or max_samples >= len(y):
        return x, y
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:max_samples].sort().values
    return x[idx.to(x.device)], y[idx.to(y.device)]


class MeasureSpec:
    """What every measure's frozen spec shares: ``split``, ``max_samples`` (and ``batch_size`` where it has one)
    checked alike, :meth:`settings`, the measure's keyword arguments (every field but the data fields), and
    :meth:`measure_on`. Each spec's ``compute(model, data, *, device, progress)`` runs its measure (of a stored run:
    :meth:`samlab.runs.RunStore.measure`, stored in the run's folder keyed by the spec)."""

    _DATA_FIELDS = ("split", "max_samples")

    def check_data_fields(self) -> None:
        check_choice("split", self.split, SPLITS)
        check_int("max_samples", self.max_samples, low=1, optional=True)
        if hasattr(self, "batch_size"):
            check_int("batch_size", self.batch_size, low=1)

    def settings(self) -> dict:
        """The keyword arguments of the measure this spec stands for."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self._DATA_FIELDS}

    def measure_on(self, measure: Callable[..., dict], model: nn.Module, data: Any, **kwargs: Any) -> dict:
        """``measure(model, x, y, ...)`` on this spec's split of ``data`` (an ImageData-like object)."""
        x, y = select_samples(*data.split(self.split), self.max_samples)
        return measure(model, x, y, mean=data.mean, std=data.std, **kwargs, **self.settings())
