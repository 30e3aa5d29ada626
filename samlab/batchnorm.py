"""BatchNorm running statistics of ONE model: keep them frozen for a block, or re-estimate them (AdaBS).

* :func:`frozen_statistics`: forward passes inside the block leave the running mean/variance/count of that
  model's BatchNorm modules exactly as they were (SAM's passes at ``w + eps``; evaluating a perturbed model in
  training mode). Other models are not touched: no global hook.
* :func:`reestimate_statistics`: AdaBS (Joshi et al. 2020; SAMSON sec. 6.1): after the weights changed (noise,
  drift), recompute every BatchNorm's running statistics from calibration batches as an exact cumulative average.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterable, Iterator

import torch
from torch import Tensor, nn

__all__ = ["batchnorm_modules", "frozen_statistics", "reestimate_statistics"]

_BN = nn.modules.batchnorm._BatchNorm


def batchnorm_modules(model: nn.Module) -> list[nn.Module]:
    """Every BatchNorm1d/2d/3d (and SyncBatchNorm) module of ``model`` that tracks running statistics."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} must be a torch.nn.Module")
    return [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]


def _buffers(module: nn.Module) -> list[Tensor]:
    return [b for b in (module.running_mean, module.running_var, module.num_batches_tracked) if b is not None]


def _saved_buffers(bns: Iterable[nn.Module]) -> list[tuple[Tensor, Tensor]]:
    """Each running mean/variance/count of ``bns`` with a copy of its value (for :func:`_restore_buffers`)."""
    with torch.no_grad():
        return [(b, b.detach().clone()) for m in bns for b in _buffers(m)]


def _restore_buffers(saved: list[tuple[Tensor, Tensor]]) -> None:
    """Copy the values :func:`_saved_buffers` kept back into their buffers (exactly)."""
    with torch.no_grad():
        for b, s in saved:
            b.copy_(s)


@contextlib.contextmanager
def frozen_statistics(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, forward passes do not change ``model``'s BatchNorm running statistics.

    The running mean, variance and ``num_batches_tracked`` of each of its BatchNorm modules are copied aside
    on entry and copied back on exit (exactly, also when the block raises). Batch statistics are still used
    for normalisation in training mode; only the running averages are left alone. Yields ``model``.
    """
    saved = _saved_buffers(batchnorm_modules(model))
    try:
        yield model
    finally:
        _restore_buffers(saved)


def _to_device(obj: Any, device: torch.device | str | None) -> Any:
    if device is None:
        return obj
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


class _Pooled:
    """Per-channel count, mean and sum of squared deviations of a BN's input, pooled over batches in float64
    (Chan et al.'s parallel update, so the result is the statistic of all batches together)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def __call__(self, module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0].detach().double()
        x = x.transpose(0, 1).reshape(x.shape[1], -1)          # (C, samples * positions)
        nb = x.shape[1]
        mb = x.mean(1)
        m2b = (x - mb[:, None]).pow(2).sum(1)
        if self.mean is None:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta.pow(2) * (self.n * nb / n)
        self.n = n


_NOTHING = object()


def _first_checked(batches: Iterable[Any]) -> Iterator[Any]:
    """``batches`` as an iterator known to hold at least one batch, read once (a generator is not consumed
    twice); refuses ``None``, a non-iterable, a bare tensor and an empty iterable before the model is touched."""
    allowed = "an iterable of calibration batches (a DataLoader, a list of input tensors or of (x, y) pairs)"
    if isinstance(batches, Tensor):
        raise ValueError(f"batches must be {allowed}, got a tensor of shape {tuple(batches.shape)}: "
                         "pass one batch as [x]")
    try:
        it = iter(batches)
    except TypeError:
        raise ValueError(f"batches={batches!r} must be {allowed}") from None
    first = next(it, _NOTHING)
    if first is _NOTHING:
        raise ValueError(f"batches={batches!r} is empty: AdaBS needs at least one calibration batch")
    return itertools.chain([first], it)


def reestimate_statistics(model: nn.Module, batches: Iterable[Any], *,
                          device: torch.device | str | None = None) -> nn.Module:
    """AdaBS: reset every BatchNorm's running statistics and re-estimate them from ``batches``; returns ``model``.

    Each BatchNorm goes to training mode with ``momentum=None`` (cumulative average), everything else to eval
    mode (dropout off), and ``model`` runs on every batch under ``no_grad``. Each BN's running mean and running
    variance are then set to the exact mean and unbiased variance of its input over ALL batches together
    (pooled in float64; PyTorch's own cumulative average would give the mean of the per-batch variances, which
    is smaller when the batch means differ), and ``num_batches_tracked`` to the number of batches. Each module's
    training flag and momentum are restored afterwards.

    A batch is a tensor (the input) or a sequence whose first element is the input (``(x, y)`` from a
    DataLoader); ``device`` moves the input there first. ``batches`` is any iterable, read once. A refused call
    (``None``, not iterable, empty) or a failed one (a forward that raises) leaves the model exactly as it was:
    the statistics are copied aside first and put back on any exception.
    """
    bns = batchnorm_modules(model)
    batches = _first_checked(batches)
    modules = list(model.modules())
    flags = [m.training for m in modules]
    momenta = [m.momentum for m in bns]
    saved = _saved_buffers(bns)
    pooled = [_Pooled() for _ in bns]
    handles = [m.register_forward_pre_hook(p) for m, p in zip(bns, pooled)]
    try:
        for m in modules:
            m.train(False)
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train(True)
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, (list, tuple)) else batch
                model(_to_device(x, device))
            for m, p in zip(bns, pooled):
                if p.mean is None:      # this BN did not run (an unused branch): leave it reset
                    continue
                m.running_mean.copy_(p.mean)
                m.running_var.copy_(p.m2 / max(p.n - 1, 1))
    except BaseException:
        _restore_buffers(saved)
        raise
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(modules, flags):
            m.training = flag
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
    return model
