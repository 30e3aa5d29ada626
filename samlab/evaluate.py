"""Loss and accuracy of a classifier on uint8 images: the one evaluation the trainer, stored-run loading, the coming
Monte-Carlo weight-noise evaluation, AdaBS and the sharpness measures all call (many times, so it is kept lean).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["evaluate", "eval_mode"]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block ``model`` is in eval mode (BatchNorm uses and never updates its running statistics,
    dropout is off); every module's own ``training`` flag is restored on exit, also when the block raises."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} must be a torch.nn.Module")
    modules = list(model.modules())
    flags = [m.training for m in modules]
    try:
        model.eval()
        yield model
    finally:
        for m, flag in zip(modules, flags):
            m.training = flag


def _stats(values: Sequence[float], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(tuple(values), dtype=torch.float32, device=device).view(1, -1, 1, 1)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, mean: Sequence[float], std: Sequence[float],
             batch_size: int = 500, device: str | torch.device | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` in eval mode on uint8 images ``x`` (N, C, H, W).

    Batches are slices of ``x`` (views, no gather), normalised as ``(x / 255 - mean) / std`` on ``device``
    (default: the model's), under ``torch.inference_mode``; the loss is summed in float64 and the counts are
    read back once at the end. Every module's own training flag is restored afterwards, also on error (a frozen
    BatchNorm in eval mode inside a model in training mode stays in eval mode), by :func:`eval_mode`.
    """
    signals = x.is_floating_point() and x.dim() == 3  # MNIST-1D: float (N, C, L), already on the model's scale
    if not signals and (x.dtype != torch.uint8 or x.dim() != 4):
        raise ValueError(f"x must be uint8 images (N, C, H, W) or float signals (N, C, L); got dtype={x.dtype}, "
                         f"shape={tuple(x.shape)}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    if device is not None:
        device = torch.device(device)
    else:
        first = next(model.parameters(), None)
        device = first.device if first is not None else x.device
    with eval_mode(model):
        with torch.inference_mode():
            m, s = _stats(mean, device), _stats(std, device)
            if signals:
                m, s, scale = m.view(1, -1, 1), s.view(1, -1, 1), 1.0
            else:
                scale = 255.0
            loss = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for start in range(0, len(y), batch_size):
                xb = x[start:start + batch_size].to(device, non_blocking=True)
                yb = y[start:start + batch_size].to(device, non_blocking=True)
                out = model((xb.to(torch.float32) / scale - m) / s)
                loss += F.cross_entropy(out, yb, reduction="sum").double()
                correct += (out.argmax(1) == yb).sum()
    n = max(1, len(y))
    return loss.item() / n, correct.item() / n
