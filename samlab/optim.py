"""The sharpness-aware optimizer family: SAM, ASAM, SAMSON, with ESAM's SWP (beta) and SDS (gamma).

One class, :class:`SAM`, wraps any base optimizer (SGD, Adam, ...). Each step

1. computes the gradient at ``w`` (the *ascent* pass),
2. moves to ``w + eps`` with ``eps`` the method's worst-case perturbation
   (:func:`samlab.perturbation.worst_case_perturbation`: SAM eq. 2, ASAM eq. 4, SAMSON eq. 6),
3. computes the gradient at ``w + eps`` (the *descent* pass),
4. restores ``w`` exactly (a copy, not a subtraction) and lets the base optimizer update ``w`` with it,
5. optionally clips conv/linear weights to ``[-c, c]`` (SAMSON Algorithm 1).

ESAM (Du et al., ICLR 2022, Algorithm 1):

* ``beta < 1`` (Stochastic Weight Perturbation): each parameter tensor joins the perturbation with
  probability ``beta``; tensors left out get ``requires_grad=False`` during the ascent pass, so autograd
  computes no weight gradient for them (the saving), and the perturbation is scaled by ``1/beta`` (eq. 6).
  The norm in the denominator runs over the chosen tensors only.
* ``gamma < 1`` (Sharpness-sensitive Data Selection): after perturbing, the per-sample losses at
  ``w + eps`` are computed without gradient, the ``ceil(gamma * B)`` samples whose loss rose most are
  kept, and the descent pass (forward + backward) runs on them only.

Both work with every method (sam, asam, samson).

Two calling conventions
-----------------------
``step(closure)`` -- PyTorch's convention: ``closure()`` zeroes the gradients, computes the mean loss,
calls ``backward`` and returns the loss. Enough for everything except SDS.

``step(sample_loss=fn)`` -- the SDS contract (works for every option): ``fn(indices=None)`` returns the
*per-sample* losses (shape ``[B]``, no reduction, no ``backward``) of the current batch, or of the rows
``indices`` (a ``LongTensor``) when given. The optimizer zeroes gradients, calls ``backward`` and picks
the rows itself. :func:`sample_loss_fn` builds one for a classifier.

Both return the mean loss at ``w`` (before the perturbation), detached.

For hand-written loops::

    with opt.ascent():                  # draws the SWP mask (a no-op when beta = 1)
        loss_fn(model(x), y).backward()
    opt.first_step(zero_grad=True)      # w -> w + eps
    with opt.perturbed():               # keeps BatchNorm running statistics from the first pass
        loss_fn(model(x), y).backward()
    opt.second_step(zero_grad=True)     # restore w, base update, clip

BatchNorm running statistics come from the first pass only: every pass at ``w + eps`` runs inside
:func:`frozen_norm_statistics`, which snapshots the running mean/variance/count of every BatchNorm module
that runs in training mode and restores them afterwards (no ``model`` argument needed).

``rho = 0`` makes ``step`` exactly the base optimizer (one pass, no perturbation). ``state_dict()``
holds the base optimizer's state (momentum, Adam moments) and the SWP random generator, so a save/load
mid-training continues bit-for-bit like an uninterrupted run.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from .checks import check_choice, check_number
from .perturbation import (_TINY, _finish, _global_norm, _scaled_gradients, check_method_args,
                           neighbourhood_scale)

__all__ = ["SAM", "frozen_norm_statistics", "sample_loss_fn"]

_SAM_KEYS = ("method", "rho", "p", "eta", "adaptive_params", "beta", "gamma", "clip")


@contextlib.contextmanager
def frozen_norm_statistics() -> Iterator[None]:
    """Run a forward pass without changing any BatchNorm running statistics (restored exactly on exit).

    A global forward pre-hook snapshots ``running_mean``, ``running_var`` and ``num_batches_tracked`` of
    each BatchNorm module the first time it runs in training mode inside the block.
    """
    saved: dict[nn.Module, list[tuple[Tensor, Tensor]]] = {}

    def hook(module: nn.Module, _inputs: Any) -> None:
        if (isinstance(module, nn.modules.batchnorm._NormBase) and module.training
                and module.track_running_stats and module not in saved):
            saved[module] = [(b, b.detach().clone()) for b in
                             (module.running_mean, module.running_var, module.num_batches_tracked)
                             if b is not None]

    handle = nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
        with torch.no_grad():
            for pairs in saved.values():
                for buf, copy in pairs:
                    buf.copy_(copy)


def sample_loss_fn(model: nn.Module, inputs: Tensor, targets: Tensor,
                   loss: Callable[..., Tensor] | None = None) -> Callable[[Tensor | None], Tensor]:
    """Per-sample loss closure for :meth:`SAM.step` (``sample_loss=``): cross-entropy by default."""
    loss = loss or nn.functional.cross_entropy

    def fn(indices: Tensor | None = None) -> Tensor:
        x, y = (inputs, targets) if indices is None else (inputs[indices], targets[indices])
        return loss(model(x), y, reduction="none")

    return fn


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimisation around any base optimizer: SAM, ASAM, SAMSON, plus ESAM's beta/gamma.

    ``rho=None``/``eta=None`` take the method's paper default (SAM rho 0.05; ASAM and SAMSON rho 0.5;
    eta 0.01 for ASAM, 0 for SAMSON). ``adaptive_params="weights"`` applies ASAM/SAMSON's transform to
    tensors with ``ndim > 1`` only (the official ASAM behaviour); ``"all"`` to biases too.
    ``base_kwargs`` go to ``base_optimizer`` (``lr``, ``momentum``, ``weight_decay``, ...).
    All options may differ per parameter group; the perturbation norm is one norm over all groups.
    """

    def __init__(self, params: Iterable[Any], base_optimizer: type[torch.optim.Optimizer], *,
                 method: str = "sam", rho: float | None = None, p: float = 2.0, eta: float | None = None,
                 adaptive_params: str = "weights", beta: float = 1.0, gamma: float = 1.0,
                 clip: float | None = None, generator: torch.Generator | None = None,
                 **base_kwargs: Any) -> None:
        if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, torch.optim.Optimizer)):
            raise ValueError(f"base_optimizer={base_optimizer!r} must be a torch.optim.Optimizer class "
                             "such as torch.optim.SGD or torch.optim.Adam")
        defaults = dict(method=method, rho=rho, p=p, eta=eta, adaptive_params=adaptive_params,
                        beta=beta, gamma=gamma, clip=clip)
        self._check_options(defaults)
        super().__init__(params, {**defaults, **base_kwargs})
        for group in self.param_groups:
            self._check_options(group)
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        # One set of groups and one state, shared with the base optimizer (schedulers see both).
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self.defaults.update(self.base_optimizer.defaults)
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        self.generator = generator
        self._backup: dict[Tensor, Tensor] = {}
        self._perturbed: list[Tensor] = []
        self._swp_mask: dict[Tensor, bool] | None = None

    # ----------------------------------------------------------------------------------- validation
    @staticmethod
    def _check_options(group: dict[str, Any]) -> None:
        """Refuse bad options at once, naming the argument, the value and what is allowed."""
        method, rho, p, eta = check_method_args(group["method"], group["rho"], group["p"], group["eta"])
        group.update(method=method, rho=rho, p=p, eta=eta)
        check_choice("adaptive_params", group["adaptive_params"], ("weights", "all"))
        group["beta"] = check_number("beta", group["beta"], low=0.0, high=1.0, low_open=True)
        group["gamma"] = check_number("gamma", group["gamma"], low=0.0, high=1.0, low_open=True)
        if group["clip"] is not None:
            group["clip"] = check_number("clip", group["clip"], low=0.0, low_open=True)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not hasattr(self, "base_optimizer"):  # during __init__
            super().add_param_group(param_group)
            return
        for key in _SAM_KEYS:
            param_group.setdefault(key, self.defaults[key])
        self._check_options(param_group)
        self.base_optimizer.add_param_group(param_group)

    # ------------------------------------------------------------------------------------- helpers
    @property
    def _needs_perturbation(self) -> bool:
        return any(g["rho"] > 0 for g in self.param_groups)

    @property
    def _gamma(self) -> float:
        gammas = {g["gamma"] for g in self.param_groups}
        if len(gammas) > 1:
            raise ValueError(f"gamma must be the same in every parameter group, got {sorted(gammas)}")
        return gammas.pop()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    @contextlib.contextmanager
    def ascent(self) -> Iterator[None]:
        """Context for the ascent pass: draws the SWP mask and switches off gradients of left-out tensors."""
        if all(g["beta"] >= 1.0 for g in self.param_groups):
            self._swp_mask = None
            yield
            return
        mask: dict[Tensor, bool] = {}
        off: list[Tensor] = []
        for group in self.param_groups:
            beta = group["beta"]
            for w in group["params"]:
                keep = beta >= 1.0 or bool(torch.rand((), generator=self.generator) < beta)
                mask[w] = keep
                if not keep and w.requires_grad:
                    off.append(w)
        self._swp_mask = mask
        if any(mask.values()):
            for w in off:
                w.requires_grad_(False)
        else:
            # Every tensor left out (probability (1 - beta)^tensors): eps = 0. Gradients stay on so that the
            # ascent pass can still call backward; the step is then a plain step at w.
            off = []
        try:
            yield
        finally:
            for w in off:
                w.requires_grad_(True)

    @staticmethod
    def perturbed() -> contextlib.AbstractContextManager[None]:
        """Context for passes at ``w + eps``: BatchNorm running statistics are left untouched."""
        return frozen_norm_statistics()

    # ---------------------------------------------------------------------------------- the steps
    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move every chosen tensor from ``w`` to ``w + eps`` (eps from the current ``.grad``)."""
        mask = self._swp_mask or {}
        plan = []  # per group: (params, scales, T*g, rho_eff)
        everything: list[Tensor] = []
        for group in self.param_groups:
            if group["rho"] == 0:
                continue
            ws = [w for w in group["params"] if w.grad is not None and mask.get(w, True)]
            if not ws:
                continue
            adaptive = [group["adaptive_params"] == "all" or w.ndim > 1 for w in ws]
            scales = neighbourhood_scale(ws, method=group["method"], p=group["p"], eta=group["eta"],
                                         adaptive=adaptive)
            tg = _scaled_gradients([w.grad for w in ws], scales)
            plan.append((ws, scales, tg, group["rho"] / group["beta"]))
            everything.extend(tg)
        self._swp_mask = None
        self._perturbed = []
        if not plan:
            if zero_grad:
                self.zero_grad()
            return
        norm = _global_norm(everything)
        inv = torch.where(norm > 0, 1.0 / norm.clamp_min(_TINY), torch.zeros_like(norm))
        for ws, scales, tg, rho_eff in plan:
            eps = _finish(tg, scales, inv * rho_eff)
            backups = [self._backup_for(w) for w in ws]
            torch._foreach_copy_(backups, ws)
            torch._foreach_add_(ws, eps)
            self._perturbed.extend(ws)
        if zero_grad:
            self.zero_grad()

    def _backup_for(self, w: Tensor) -> Tensor:
        b = self._backup.get(w)
        if b is None or b.shape != w.shape or b.device != w.device or b.dtype != w.dtype:
            b = self._backup[w] = torch.empty_like(w, memory_format=torch.preserve_format)
        return b

    @torch.no_grad()
    def _restore(self) -> None:
        if self._perturbed:
            torch._foreach_copy_(self._perturbed, [self._backup[w] for w in self._perturbed])
            self._perturbed = []

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore ``w`` exactly, apply the base optimizer with the gradient at ``w + eps``, then clip."""
        self._restore()
        self.base_optimizer.step()
        self._clip()
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def _clip(self) -> None:
        """SAMSON Algorithm 1's optional weight clipping of conv/linear weights to ``[-c, c]``."""
        for group in self.param_groups:
            c = group["clip"]
            if c is not None:
                ws = [w for w in group["params"] if w.ndim > 1]
                if ws:
                    torch._foreach_clamp_min_(ws, -c)
                    torch._foreach_clamp_max_(ws, c)

    def step(self, closure: Callable[[], Tensor] | None = None, *,
             sample_loss: Callable[[Tensor | None], Tensor] | None = None) -> Tensor:
        """One sharpness-aware step; returns the mean loss at ``w`` (see the module docstring)."""
        if (closure is None) == (sample_loss is None):
            raise ValueError("SAM.step needs exactly one of closure=... (PyTorch convention) or "
                             "sample_loss=... (per-sample losses, required for gamma < 1)")
        gamma = self._gamma
        if closure is not None and gamma < 1:
            raise ValueError(f"gamma={gamma} (ESAM data selection) needs per-sample losses: call "
                             "step(sample_loss=fn) with fn(indices=None) -> losses of shape [B]")
        if not self._needs_perturbation:
            loss = self._pass(closure, sample_loss)[0]
            self.base_optimizer.step()
            self._clip()
            return loss
        try:
            with self.ascent():
                loss, losses_at_w = self._pass(closure, sample_loss)
            self.first_step()
            with self.perturbed():
                if sample_loss is not None and gamma < 1:
                    self._pass(None, sample_loss, indices=self._select(sample_loss, losses_at_w, gamma))
                else:
                    self._pass(closure, sample_loss)
        except BaseException:
            self._restore()  # never leave the model at w + eps
            raise
        self.second_step()
        return loss

    def _pass(self, closure: Callable[[], Tensor] | None,
              sample_loss: Callable[[Tensor | None], Tensor] | None,
              indices: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """One forward+backward; returns (mean loss, per-sample losses or None), both detached."""
        with torch.enable_grad():
            if closure is not None:
                loss = closure()
                return loss.detach(), None
            self.zero_grad()
            losses = sample_loss(indices)
            if losses.ndim != 1:
                raise ValueError(f"sample_loss must return per-sample losses of shape [B], "
                                 f"got shape {tuple(losses.shape)}")
            mean = losses.mean()
            mean.backward()
            return mean.detach(), losses.detach()

    @staticmethod
    @torch.no_grad()
    def _select(sample_loss: Callable[[Tensor | None], Tensor], losses_at_w: Tensor,
                gamma: float) -> Tensor:
        """ESAM SDS: indices of the ``ceil(gamma * B)`` samples whose loss rose most under ``eps``."""
        rise = sample_loss(None).detach() - losses_at_w
        k = max(1, math.ceil(gamma * rise.numel()))
        return torch.topk(rise, k, sorted=False).indices

    # -------------------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        sd = self.base_optimizer.state_dict()
        sd["samlab_sam"] = {"generator": self.generator.get_state()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("samlab_sam", None)
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        for group in self.param_groups:
            self._check_options(group)
        if extra is not None:
            self.generator.set_state(extra["generator"])

    def __repr__(self) -> str:
        g = self.param_groups[0]
        opts = ", ".join(f"{k}={g[k]!r}" for k in _SAM_KEYS)
        return f"SAM({type(self.base_optimizer).__name__}, {opts})"
