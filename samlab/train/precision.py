"""One optimisation step with mixed precision, gradient accumulation, m-sharpness groups and DDP.

:class:`StepRunner` replaces the plain loop of :func:`samlab.train.loop.train_epoch` whenever a run asks for
``amp``, ``accumulate > 1``, ``ascent_splits > 1`` or runs under ``torch.distributed`` with several processes;
otherwise the plain loop runs unchanged (bit for bit the same as before these options existed).

The global batch ``B`` (``config.batch_size``) is what one optimizer step sees, whatever the number of processes
``W``. Each process takes its contiguous slice of ``B / W`` images. The sharpness-aware ascent follows
m-sharpness (Foret et al., Sec. 4): the global batch is cut into ``S = ascent_splits`` equal groups and each group
computes ``eps`` from its own gradient; the descent gradients (each group's gradient at its own ``w + eps``) are
averaged. ``S = 1`` is plain SAM on the global batch (under DDP the first pass is all-reduced too); ``S = W`` is the
original SAM's DDP recipe (each replica's eps from its own gradient, ``model.no_sync()`` in the first pass); a
single process with ``S = W`` computes exactly what ``W`` processes compute. Each group's batch is cut into
``accumulate = K`` micro-batches whose gradients add up (losses weighted by micro/group size), so the ascent uses the
accumulated gradient of the K micro-batches and K micro-batches of ``B/K`` equal one batch of ``B`` (up to float
rounding; BatchNorm normalises per micro-batch, so the equality holds for networks without it).

Mixed precision: ``amp="bf16"`` autocasts the forward passes to bfloat16 (no scaler needed); ``amp="fp16"`` to
float16 with a :class:`torch.amp.GradScaler`. The scaler handles SAM's two passes: the ascent gradient is unscaled
before eps is computed (through a view of the parameters, so the descent pass can be unscaled again in the same
step), each pass's overflow flag is all-reduced across processes, and when either pass overflows the whole step is
skipped on every process (weights restored to ``w``, no update) and the scale backs off once.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_int
from ..optim import SAM

__all__ = ["AMP_MODES", "StepRunner", "split_plan", "describe_split"]

AMP_MODES = ("off", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def describe_split(batch_size: int, *, world: int = 1, ascent_splits: int = 1, accumulate: int = 1,
                   sharpness_aware: bool = True) -> str:
    """One line saying how the global batch is split (printed by the command line under torchrun)."""
    groups, k, micro = split_plan(batch_size, world=world, ascent_splits=ascent_splits, accumulate=accumulate,
                                  sharpness_aware=sharpness_aware)
    text = (f"global batch {batch_size} = {world} process(es) x {batch_size // world} per replica"
            f" = {groups * k} micro-batch(es) of {micro} per replica")
    if sharpness_aware:
        text += ("; eps from the all-reduced gradient of the global batch" if ascent_splits == 1 and world > 1 else
                 f"; eps per 1/{ascent_splits} of the global batch (m-sharpness, m = {batch_size // ascent_splits})")
    return text


def split_plan(batch_size: int, *, world: int = 1, ascent_splits: int = 1, accumulate: int = 1,
               sharpness_aware: bool = True) -> tuple[int, int, int]:
    """(groups per process, micro-batches per group, micro-batch size); ValueError when ``batch_size`` does not split."""
    world = check_int("world_size", world, low=1)
    splits = check_int("ascent_splits", ascent_splits, low=1)
    k = check_int("accumulate", accumulate, low=1)
    if splits > 1 and not sharpness_aware:
        raise ValueError(f"ascent_splits={splits} applies only to the sharpness-aware methods; leave it at 1")
    if splits > 1 and splits % world:
        raise ValueError(f"ascent_splits={splits} must be 1 (plain SAM on the global batch) or a multiple of the "
                         f"{world} processes (m-sharpness: each replica's eps from its own gradient)")
    groups = max(1, splits // world)
    parts = world * groups * k
    if batch_size % parts:
        raise ValueError(f"batch_size={batch_size} does not split evenly into {world} process(es) x {groups} ascent "
                         f"group(s) x {k} micro-batch(es) (= {parts} equal parts); choose a batch size divisible by "
                         f"{parts}")
    return groups, k, batch_size // parts


class _GradView:
    """The parameters as an 'optimizer' for :meth:`GradScaler.unscale_` (unscaling the ascent gradient without using
    up the base optimizer's one unscale per step)."""

    def __init__(self, param_groups: list[dict[str, Any]]) -> None:
        self.param_groups = [{"params": list(g["params"])} for g in param_groups]


class StepRunner:
    """Runs one run's training steps with AMP / accumulation / ascent groups / DDP (module docstring).

    ``model`` is the plain network (its ``state_dict`` is what is stored); ``ddp`` its
    :class:`~torch.nn.parallel.DistributedDataParallel` wrapper when ``world > 1``.
    """

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, *, batch_size: int, amp: str = "off",
                 accumulate: int = 1, ascent_splits: int = 1, device: torch.device | str = "cpu",
                 ddp: nn.Module | None = None, rank: int = 0, world: int = 1) -> None:
        self.model, self.opt, self.ddp = model, opt, ddp
        self.sam = isinstance(opt, SAM)
        self.amp = check_choice("amp", amp, AMP_MODES)
        self.device = torch.device(device)
        self.rank, self.world = rank, world
        if world > 1 and ddp is None:
            raise ValueError(f"world={world} processes need the DistributedDataParallel wrapper (ddp=...)")
        if self.sam and any(g["gamma"] < 1 or g["beta"] < 1 for g in opt.param_groups):
            raise ValueError("ESAM (beta/gamma < 1) is not supported with amp, accumulate, ascent_splits or DDP: "
                             "its data selection needs the whole batch's per-sample losses")
        self.batch_size = batch_size
        self.groups, self.k, self.micro = split_plan(batch_size, world=world, ascent_splits=ascent_splits,
                                                     accumulate=accumulate, sharpness_aware=self.sam)
        self.sync_ascent = world > 1 and ascent_splits == 1
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")
        self.skipped = 0  # steps skipped because a pass overflowed (fp16)

    # -------------------------------------------------------------------------------- pieces
    @property
    def net(self) -> nn.Module:
        return self.ddp if self.ddp is not None else self.model

    def _autocast(self) -> Any:
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.amp])

    def _sync(self, sync: bool) -> Any:
        return self.ddp.no_sync() if (self.ddp is not None and not sync) else contextlib.nullcontext()

    def _params(self) -> list[torch.Tensor]:
        return [w for g in self.opt.param_groups for w in g["params"]]

    def _overflow(self, view: Any) -> bool:
        """Did the last unscale find inf/nan? The flag is all-reduced so every process decides alike."""
        if not self.scaler.is_enabled():
            return False
        flags = list(self.scaler._found_inf_per_device(view).values())  # noqa: SLF001 - GradScaler's record
        if self.world > 1:
            import torch.distributed as dist

            for f in flags:
                dist.all_reduce(f, op=dist.ReduceOp.MAX)
        return bool(sum(f.item() for f in flags))

    def _backward(self, x: torch.Tensor, y: torch.Tensor, weight: float, sync: bool,
                  stats: list | None = None) -> None:
        with self._sync(sync):
            with self._autocast():
                out = self.net(x)
                loss = F.cross_entropy(out.float(), y)
            self.scaler.scale(loss * weight).backward()
        if stats is not None:
            stats[0] += loss.detach().double() * len(y)
            stats[1] += (out.detach().argmax(1) == y).sum()

    # ---------------------------------------------------------------------------------- step
    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """One optimizer step on the global batch ``(x, y)``; returns (loss sum at w, correct, images) of this
        process's slice (reduce them across processes for the global numbers)."""
        if len(y) != self.batch_size:
            raise ValueError(f"the batch has {len(y)} images; this runner was built for batch_size={self.batch_size}")
        local = self.batch_size // self.world
        xs, ys = x[self.rank * local:(self.rank + 1) * local], y[self.rank * local:(self.rank + 1) * local]
        stats = [torch.zeros((), dtype=torch.float64, device=x.device), torch.zeros((), dtype=torch.int64,
                                                                                     device=x.device)]
        group = local // self.groups
        groups = [(xs[i * group:(i + 1) * group], ys[i * group:(i + 1) * group]) for i in range(self.groups)]
        if self.sam and any(g["rho"] > 0 for g in self.opt.param_groups):
            self._sam_step(groups, stats)
        else:
            self._plain_step(groups, stats)
        return stats[0], stats[1], len(ys)

    def _micro(self, xg: torch.Tensor, yg: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        m = self.micro
        return [(xg[i * m:(i + 1) * m], yg[i * m:(i + 1) * m]) for i in range(self.k)]

    def _plain_step(self, groups: list, stats: list) -> None:
        self.opt.zero_grad(set_to_none=True)
        n = sum(len(yg) for _, yg in groups)
        micro = [mb for xg, yg in groups for mb in self._micro(xg, yg)]
        for i, (xm, ym) in enumerate(micro):
            self._backward(xm, ym, len(ym) / n, sync=i == len(micro) - 1, stats=stats)
        base = getattr(self.opt, "base_optimizer", self.opt)
        if self.scaler.is_enabled():
            self.scaler.unscale_(base)
            if self._overflow(base):
                self.skipped += 1
                self.opt.zero_grad(set_to_none=True)
                self.scaler.update()
                return
        self.opt.step()
        self.scaler.update()

    def _sam_step(self, groups: list, stats: list) -> None:
        opt: SAM = self.opt  # type: ignore[assignment]
        params = self._params()
        stash: list[torch.Tensor | None] = [None] * len(params)
        views = []  # kept alive until update(): the scaler keys its records by id()
        last_group = len(groups) - 1
        for gi, (xg, yg) in enumerate(groups):
            opt.zero_grad(set_to_none=True)
            micro = self._micro(xg, yg)
            with opt.ascent():  # the ascent pass: accumulated gradient of the K micro-batches at w
                for i, (xm, ym) in enumerate(micro):
                    self._backward(xm, ym, len(ym) / len(yg), sync=self.sync_ascent and i == self.k - 1,
                                   stats=stats)
            if self.scaler.is_enabled():
                view = _GradView(opt.param_groups)
                views.append(view)
                self.scaler.unscale_(view)  # eps needs the true gradient
                if self._overflow(view):
                    return self._skip()
            opt.first_step(zero_grad=True)
            if gi == last_group:  # earlier groups' descent gradients join the last backward (DDP reduces them)
                for w, s in zip(params, stash):
                    if s is not None:
                        w.grad = s
            with opt.perturbed():
                for i, (xm, ym) in enumerate(micro):
                    self._backward(xm, ym, len(ym) / len(yg) / len(groups),
                                   sync=gi == last_group and i == self.k - 1)
            if gi != last_group:
                for j, w in enumerate(params):
                    if w.grad is not None:
                        stash[j] = w.grad if stash[j] is None else stash[j].add_(w.grad)
                opt.zero_grad(set_to_none=True)
                opt._restore()  # noqa: SLF001 - back to w for the next group's ascent
        if self.scaler.is_enabled():
            self.scaler.unscale_(opt.base_optimizer)
            if self._overflow(opt.base_optimizer):
                return self._skip()
        opt.second_step(zero_grad=False)
        self.scaler.update()

    def _skip(self) -> None:
        """An overflow in either pass: back to w, no update, the scale backs off (same on every process)."""
        self.opt._restore()  # noqa: SLF001
        self.opt.zero_grad(set_to_none=True)
        self.skipped += 1
        self.scaler.update()

    # --------------------------------------------------------------------------------- epoch
    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer, batches: Iterable, n_batches: int,
                    device: torch.device, bar: Any) -> tuple[float, float, int, float]:
        """Same contract as :func:`samlab.train.loop.train_epoch`; numbers are over the global batches."""
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = torch.zeros((), dtype=torch.int64, device=device)
        t0 = time.perf_counter()
        for x, y in batches:
            ls, c, n = self.step(x, y)
            loss_sum += ls
            correct += c
            seen += n
            if bar is not None:
                bar.update(1)
        if self.world > 1:
            import torch.distributed as dist

            for t in (loss_sum, correct, seen):
                dist.all_reduce(t)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        n = max(1, int(seen.item()))
        return loss_sum.item() / n, correct.item() / n, int(seen.item()), seconds

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict(), "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.skipped = int(state.get("skipped", 0))
