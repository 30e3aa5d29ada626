"""Acting on a model's weights: perturb-evaluate-restore, and weight constraints as optimizer step hooks.

* :func:`conv_linear_weights`: the weight tensors of every Conv1d/2d/3d and Linear module, the tensors that an
  analog crossbar stores, that conductance noise hits and that SAMSON Algorithm 1 clips.
* :func:`perturbed` / :func:`replaced`: move parameters to ``w + delta`` (or ``w * delta``, or given values)
  for the duration of a ``with`` block and put the *exact* original values back afterwards (a copy, never a
  subtraction, so no rounding drift), also when the block raises. SAM's ascent/descent, the Monte-Carlo
  weight-noise evaluation (``W' = W * delta``) and the sharpness/landscape measures all use them.
* :func:`clip_weights` / :func:`clip_weights_std`: weight constraints applied after every step of ANY torch
  optimizer (``Optimizer.register_step_post_hook``): clip to ``[-c, c]`` (SAMSON Algorithm 1, aggressive weight
  clipping) or to ``+-alpha * std(W)`` per tensor (the additive-noise training of SAMSON sec. 6.1 / eq. 9).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator, Sequence, Union

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from .checks import check_choice, check_number

__all__ = ["conv_linear_weights", "perturbed", "replaced", "clip_weights", "clip_weights_std", "PERTURB_MODES"]

#: How :func:`perturbed` combines ``delta`` with ``w``: ``w + delta``, ``w * delta`` or ``delta`` itself.
PERTURB_MODES = ("add", "mul", "set")
_CONV_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

Values = Union[Sequence[Union[Tensor, None]], Callable[[list[Tensor]], Sequence[Union[Tensor, None]]]]


def conv_linear_weights(model: nn.Module) -> list[nn.Parameter]:
    """The ``weight`` of every Conv1d/2d/3d and Linear module of ``model``, in module order, each once."""
    out: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        if isinstance(module, _CONV_LINEAR) and module.weight is not None and id(module.weight) not in seen:
            seen.add(id(module.weight))
            out.append(module.weight)
    return out


def _values(params: list[Tensor], delta: Values, name: str) -> list[Tensor | None]:
    """``delta`` as a list matching ``params`` (calling it first if it is a callable); shapes checked."""
    if callable(delta):
        with torch.no_grad():
            delta = delta([w.detach() for w in params])
    values = list(delta)
    if len(values) != len(params):
        raise ValueError(f"{name} must have one entry per parameter ({len(params)}), got {len(values)}")
    for i, (w, d) in enumerate(zip(params, values)):
        if d is not None and not isinstance(d, Tensor):
            raise ValueError(f"{name}[{i}] must be a tensor or None, got {type(d).__name__}")
        if d is not None and d.shape != w.shape:
            raise ValueError(f"{name}[{i}] has shape {tuple(d.shape)} but params[{i}] has {tuple(w.shape)}")
    return values


@contextlib.contextmanager
def perturbed(params: Iterable[Tensor], delta: Values, *, mode: str = "add") -> Iterator[list[Tensor]]:
    """Within the block the parameters are ``w + delta`` (``mode="add"``), ``w * delta`` (``"mul"``, e.g.
    multiplicative conductance noise) or ``delta`` (``"set"``); on exit the exact original values return.

    ``delta`` is a sequence with one tensor or ``None`` (left untouched) per parameter, or a callable
    ``f(params) -> sequence`` called once (under ``no_grad``) with the current values. The change is made in
    place under ``no_grad``, on each parameter's own device and dtype; the original values are copied aside
    first and copied back on exit, also when the block raises. Yields the list of parameters.
    """
    check_choice("mode", mode, PERTURB_MODES)
    params = list(params)
    values = _values(params, delta, "delta" if mode != "set" else "values")
    idx = [i for i, d in enumerate(values) if d is not None]
    ws = [params[i] for i in idx]
    ds = [v.to(device=params[i].device, dtype=params[i].dtype) for i in idx if (v := values[i]) is not None]
    with torch.no_grad():
        saved = [w.detach().clone(memory_format=torch.preserve_format) for w in ws]
        try:
            if ws:
                if mode == "add":
                    torch._foreach_add_(ws, ds)
                elif mode == "mul":
                    torch._foreach_mul_(ws, ds)
                else:
                    torch._foreach_copy_(ws, ds)
        except BaseException:
            if ws:
                torch._foreach_copy_(ws, saved)
            raise
    try:
        yield params
    finally:
        with torch.no_grad():
            if ws:
                torch._foreach_copy_(ws, saved)


def replaced(params: Iterable[Tensor], values: Values) -> contextlib.AbstractContextManager[list[Tensor]]:
    """Within the block the parameters hold ``values`` (``None`` entries untouched); restored exactly on exit."""
    return perturbed(params, values, mode="set")


# ------------------------------------------------------------------------------ weight constraints (hooks)
def _check_optimizer(optimizer: object) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer={optimizer!r} must be a torch.optim.Optimizer instance (its "
                         "register_step_post_hook runs the constraint after every step)")


def _tensor_list(params: Iterable[Tensor]) -> list[Tensor]:
    params = list(params)
    for i, w in enumerate(params):
        if not isinstance(w, Tensor):
            raise ValueError(f"params[{i}] must be a tensor, got {type(w).__name__}")
    return params


def clip_weights(optimizer: torch.optim.Optimizer, params: Iterable[Tensor], c: float) -> RemovableHandle:
    """After every ``optimizer.step()`` clamp ``params`` to ``[-c, c]`` (SAMSON Algorithm 1's
    ``w <- clip(w, c)``; the paper's grid is c in {0.05, 0.1, 0.15, 0.2}). ``handle.remove()`` detaches."""
    _check_optimizer(optimizer)
    c = check_number("c", c, low=0.0, low_open=True)
    params = _tensor_list(params)

    @torch.no_grad()
    def hook(_opt: torch.optim.Optimizer, _args: object, _kwargs: object) -> None:
        if params:
            torch._foreach_clamp_min_(params, -c)
            torch._foreach_clamp_max_(params, c)

    return optimizer.register_step_post_hook(hook)


def clip_weights_std(optimizer: torch.optim.Optimizer, params: Iterable[Tensor], alpha: float) -> RemovableHandle:
    """After every ``optimizer.step()`` clamp each tensor ``W`` of ``params`` to ``[-alpha std(W), alpha std(W)]``.

    This is the clipping that goes with additive-noise training (SAMSON sec. 6.1, eq. 9; Joshi et al.):
    ``std(W)`` is the (unbiased, ``torch.std``) standard deviation of that tensor's values, computed after the
    update; alpha = 2.0 on CIFAR (2.5 for ImageNet fine-tuning). A tensor with fewer than two values is left
    alone (its std is undefined). ``handle.remove()`` detaches.
    """
    _check_optimizer(optimizer)
    alpha = check_number("alpha", alpha, low=0.0, low_open=True)
    params = [w for w in _tensor_list(params)]

    @torch.no_grad()
    def hook(_opt: torch.optim.Optimizer, _args: object, _kwargs: object) -> None:
        for w in params:
            if w.numel() > 1:
                bound = alpha * w.std()
                torch.clamp_(w, min=-bound, max=bound)

    return optimizer.register_step_post_hook(hook)
