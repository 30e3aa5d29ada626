"""The sharpness-aware optimizer family: SAM, ASAM, SAMSON, with ESAM's SWP (beta) and SDS (gamma).

One class, :class:`SAM`, wraps any base optimizer (SGD, Adam, ...). Each step

1. computes the gradient at ``w`` (the *ascent* pass),
2. moves to ``w + eps`` with ``eps`` the method's worst-case perturbation
   (:func:`samlab.perturbation.worst_case_perturbation`: SAM eq. 2, ASAM eq. 4, SAMSON eq. 6), through
   :func:`samlab.weights.perturbed`,
3. computes the gradient at ``w + eps`` (the *descent* pass),
4. restores ``w`` exactly (a copy, not a subtraction) and lets the base optimizer update ``w`` with it,
5. optionally clips conv/linear weights to ``[-c, c]`` (SAMSON Algorithm 1) -- a
   :func:`samlab.weights.clip_weights` step hook on the base optimizer, the same code path as plain SGD + clip.

Which tensors ASAM/SAMSON's transform ``T`` applies to is ``adaptive_params`` (a rule of
:data:`samlab.perturbation.ADAPTIVE_PARAMS`; ``None`` takes the method's default: ``"weights"`` for SAM and ASAM,
``"weights_only"`` for SAMSON; the argument and the measured budget shares are in :mod:`samlab.perturbation`
and :mod:`samlab.budget`). ``"named_weight"`` (the official ASAM code's rule) needs parameter names: pass
``model.named_parameters()`` (torch optimizers then carry ``param_names``) or ``model=``.

ESAM (Du et al., ICLR 2022, Algorithm 1):

* ``beta < 1`` (Stochastic Weight Perturbation): each parameter tensor joins the perturbation with
  probability ``beta`` and the perturbation is scaled by ``1/beta``. ``swp_normalization`` says how:

  - ``"official"`` (default; the authors' code, github.com/dydjw9/Efficient_SAM ``utils/Esam.py``): tensors left
    out get ``requires_grad=False`` during the ascent pass, so autograd computes no weight gradient for them
    (the saving), and ``eps = (rho / beta) T^2 g / ||T g||`` with the norm over the *chosen* tensors only. Every
    draw has ``||T^{-1} eps|| = rho / beta``, and ``E[eps]`` is NOT ``eps*``: for tensor ``n``, with
    ``a_k = ||T_k g_k||^2`` and masks ``m_k ~ Bern(beta)``,
    ``E[eps_n] = rho T_n^2 g_n E[1 / sqrt(a_n + sum_{k != n} m_k a_k)]`` (larger than ``eps*_n``, whose
    denominator is ``sqrt(sum_k a_k)``; measured: ``E[eps]`` projects to 1.23x ``eps*`` on a 10-layer width-32
    MLP at initialisation, beta 0.6, 3000 draws, against 1.01x for ``"paper"``).
  - ``"paper"`` (ESAM eq. 6): ``eps = m * eps* / beta`` with ``eps*`` computed over ALL tensors, so
    ``E[eps] = eps*`` exactly (the paper's unbiasedness argument, sec. 2.2). The full norm needs every gradient,
    so the ascent pass computes them all: this variant has SWP's statistics but not its saving.

  The default stays ``"official"``: it is what ESAM's reported speed-ups and accuracies were measured with,
  it is the only variant that saves computation, and results already stored under it keep their keys (the
  trainer omits fields at their default from the key).
* ``gamma < 1`` (Sharpness-sensitive Data Selection): after perturbing, the per-sample losses at
  ``w + eps`` are computed without gradient, the ``ceil(gamma * B)`` samples whose loss rose most are
  kept, and the descent pass (forward + backward) runs on them only.

Both work with every method (sam, asam, samson).

Randomness (the rule for all of samlab): samlab never draws from, nor reseeds, torch's global RNG. Every random
draw takes an explicit ``torch.Generator`` seeded from a ``seed``. Here the only draw is SWP's mask: from
``generator`` if given, else from a private generator seeded with ``seed`` (default 0).

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
    opt.second_step(zero_grad=True)     # restore w, base update (+ clip hook)

BatchNorm running statistics come from the first pass only when ``model=`` is given: every pass at ``w + eps``
(the descent pass, and SDS's selection pass) runs inside :func:`samlab.batchnorm.frozen_statistics` of that
model. Without ``model`` nothing is frozen: those passes update the running statistics like any training-mode
forward (as in most public SAM code); no global hook is installed.

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

from .batchnorm import frozen_statistics
from .checks import check_choice, check_int, check_number
from .perturbation import (ADAPTIVE_PARAMS, DEFAULT_ADAPTIVE, SWP_NORMALIZATIONS, adaptive_flags, check_method_args,
                           worst_case_perturbation)
from .weights import clip_weights, conv_linear_weights, perturbed

__all__ = ["SAM", "sample_loss_fn"]

_SAM_KEYS = ("method", "rho", "p", "eta", "adaptive_params", "beta", "gamma", "clip")


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
    eta 0.01 for ASAM, 0 for SAMSON). ``adaptive_params=None`` takes the method's rule
    (:data:`samlab.perturbation.DEFAULT_ADAPTIVE`). ``swp_normalization`` chooses ESAM's SWP scaling
    (``"official"`` or ``"paper"``, module docstring). ``clip`` clamps conv/linear weights to ``[-clip, clip]``
    after each step (SAMSON Algorithm 1). ``model``: the network whose BatchNorm statistics are frozen during the
    passes at ``w + eps``, whose conv/linear weights ``clip`` acts on (without it: tensors with ``ndim > 1``) and
    whose parameter names ``"named_weight"`` reads. ``seed`` seeds the SWP generator when ``generator`` is
    ``None``. ``base_kwargs`` go to ``base_optimizer`` (``lr``, ``momentum``, ``weight_decay``, ...).
    All options in ``_SAM_KEYS`` may differ per parameter group; the perturbation norm is one norm over all groups.
    """

    def __init__(self, params: Iterable[Any], base_optimizer: type[torch.optim.Optimizer], *,
                 method: str = "sam", rho: float | None = None, p: float = 2.0, eta: float | None = None,
                 adaptive_params: str | None = None, beta: float = 1.0, gamma: float = 1.0,
                 swp_normalization: str = "official", clip: float | None = None, model: nn.Module | None = None,
                 seed: int = 0, generator: torch.Generator | None = None, **base_kwargs: Any) -> None:
        if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, torch.optim.Optimizer)):
            raise ValueError(f"base_optimizer={base_optimizer!r} must be a torch.optim.Optimizer class "
                             "such as torch.optim.SGD or torch.optim.Adam")
        if model is not None and not isinstance(model, nn.Module):
            raise ValueError(f"model={model!r} must be a torch.nn.Module (the network being trained) or None")
        self.swp_normalization = check_choice("swp_normalization", swp_normalization, SWP_NORMALIZATIONS)
        seed = int(check_int("seed", seed, low=0))  # type: ignore[arg-type]
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator={generator!r} must be a torch.Generator or None (then seed={seed} is used)")
        defaults = dict(method=method, rho=rho, p=p, eta=eta, adaptive_params=adaptive_params,
                        beta=beta, gamma=gamma, clip=clip)
        self._check_options(dict(defaults))  # fail at once; the raw defaults (None = method default) are kept
        super().__init__(params, {**defaults, **base_kwargs})
        self.model = model
        for group in self.param_groups:
            self._check_options(group)
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        # One set of groups and one state, shared with the base optimizer (schedulers see both).
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self.defaults.update(self.base_optimizer.defaults)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(seed)
        self._undo: contextlib.ExitStack | None = None
        self._swp_mask: dict[Tensor, bool] | None = None
        self._clip_handles: list[Any] = []
        for group in self.param_groups:
            self._check_names(group)
        self._register_clips()

    # ----------------------------------------------------------------------------------- validation
    @staticmethod
    def _check_options(group: dict[str, Any]) -> None:
        """Refuse bad options at once, naming the argument, the value and what is allowed; fill defaults."""
        method, rho, p, eta = check_method_args(group["method"], group["rho"], group["p"], group["eta"])
        group.update(method=method, rho=rho, p=p, eta=eta)
        if group["adaptive_params"] is None:
            group["adaptive_params"] = DEFAULT_ADAPTIVE[method]
        check_choice("adaptive_params", group["adaptive_params"], ADAPTIVE_PARAMS)
        group["beta"] = check_number("beta", group["beta"], low=0.0, high=1.0, low_open=True)
        group["gamma"] = check_number("gamma", group["gamma"], low=0.0, high=1.0, low_open=True)
        if group["clip"] is not None:
            group["clip"] = check_number("clip", group["clip"], low=0.0, low_open=True)

    def _names(self, group: dict[str, Any]) -> list[str | None]:
        """Parameter names of a group: torch's ``param_names`` (named_parameters), else from ``model``."""
        if group.get("param_names") is not None:
            return list(group["param_names"])
        by_id = {} if self.model is None else {id(w): n for n, w in self.model.named_parameters()}
        return [by_id.get(id(w)) for w in group["params"]]

    def _check_names(self, group: dict[str, Any]) -> None:
        if group["adaptive_params"] == "named_weight":
            adaptive_flags(group["params"], "named_weight", self._names(group))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not hasattr(self, "base_optimizer"):  # during __init__
            super().add_param_group(param_group)
            return
        for key in _SAM_KEYS:
            param_group.setdefault(key, self.defaults[key])
        self._check_options(param_group)
        self.base_optimizer.add_param_group(param_group)
        self._check_names(self.param_groups[-1])
        self._register_clips()

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

    def _register_clips(self) -> None:
        """One :func:`samlab.weights.clip_weights` hook on the base optimizer per group with ``clip``."""
        for handle in self._clip_handles:
            handle.remove()
        self._clip_handles = []
        conv_linear = None if self.model is None else {id(w) for w in conv_linear_weights(self.model)}
        for group in self.param_groups:
            if group["clip"] is not None:
                ws = [w for w in group["params"]
                      if (w.ndim > 1 if conv_linear is None else id(w) in conv_linear)]
                self._clip_handles.append(clip_weights(self.base_optimizer, ws, group["clip"]))

    @contextlib.contextmanager
    def ascent(self) -> Iterator[None]:
        """Context for the ascent pass: draws the SWP mask; with ``swp_normalization="official"`` it also
        switches off gradients of the tensors left out (the saving)."""
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
        if self.swp_normalization == "paper" or not any(mask.values()):
            # "paper" needs every gradient for the full norm. When every tensor is left out (probability
            # (1 - beta)^tensors) eps = 0; gradients stay on so that the ascent pass can still call backward.
            off = []
        for w in off:
            w.requires_grad_(False)
        try:
            yield
        finally:
            for w in off:
                w.requires_grad_(True)

    def perturbed(self) -> contextlib.AbstractContextManager[Any]:
        """Context for passes at ``w + eps``: ``model``'s BatchNorm running statistics are left untouched
        (nothing is frozen without ``model``)."""
        return contextlib.nullcontext() if self.model is None else frozen_statistics(self.model)

    # ---------------------------------------------------------------------------------- the steps
    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move every chosen tensor from ``w`` to ``w + eps``, eps from the current ``.grad`` by
        :func:`samlab.perturbation.worst_case_perturbation` (one norm over all groups; SWP's mask and scaling)."""
        self._restore()  # a perturbation is always taken from w, never stacked
        mask, self._swp_mask = self._swp_mask, None
        groups = [dict(params=g["params"], method=g["method"], rho=g["rho"], p=g["p"], eta=g["eta"],
                       adaptive=g["adaptive_params"], beta=g["beta"],
                       names=self._names(g) if g["adaptive_params"] == "named_weight" else None)
                  for g in self.param_groups if g["rho"] > 0]
        params = [w for g in groups for w in g["params"]]
        eps = worst_case_perturbation(groups, [w.grad for w in params],
                                      mask=None if mask is None else [mask.get(w, True) for w in params],
                                      swp_normalization=self.swp_normalization)
        if any(e is not None for e in eps):
            stack = contextlib.ExitStack()
            stack.enter_context(perturbed(params, eps))
            self._undo = stack
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def _restore(self) -> None:
        """Back to ``w`` exactly (the copy :func:`samlab.weights.perturbed` kept)."""
        if self._undo is not None:
            undo, self._undo = self._undo, None
            undo.close()

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore ``w`` exactly, apply the base optimizer with the gradient at ``w + eps`` (its step hooks,
        such as ``clip``, run after it)."""
        self._restore()
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

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
            self._check_names(group)
        self._register_clips()
        if extra is not None:
            self.generator.set_state(extra["generator"])

    def __repr__(self) -> str:
        g = self.param_groups[0]
        opts = ", ".join(f"{k}={g[k]!r}" for k in _SAM_KEYS)
        return f"SAM({type(self.base_optimizer).__name__}, {opts}, swp_normalization={self.swp_normalization!r})"
