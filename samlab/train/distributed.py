"""One run on several processes: ``torchrun --nproc-per-node N -m samlab train ...`` (DistributedDataParallel).

* The process group comes from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...):
  NCCL on CUDA (each process on ``cuda:LOCAL_RANK``), gloo on CPU. A group already initialised by the caller
  (tests spawn processes themselves) is used as it is.
* ``config.batch_size`` is the global batch; each process trains on its ``batch_size / N`` slice of the same
  global batch (every process draws the same batch order and augmentation from the run's seed), so the run's
  key does not depend on N: with ``ascent_splits`` fixed, N processes compute what one process computes
  (:mod:`samlab.train.precision`; BatchNorm statistics are per replica, as in any DDP without SyncBatchNorm).
* Rank 0 alone writes the results store (:class:`RankStore`); the others wait on a barrier after each checkpoint
  and read the finished run when rank 0 has stored it.
"""
from __future__ import annotations

import datetime
import os
from typing import Any

import torch
from torch import nn

from .device import resolve_device
from .precision import StepRunner, split_plan

__all__ = ["RankStore", "env_world_size", "init_from_env", "prepare", "make_runner", "check_world_config"]


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 without torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _dist() -> Any:
    import torch.distributed as dist

    return dist


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_from_env(device: torch.device) -> bool:
    """Initialise the default process group from torchrun's environment when ``WORLD_SIZE > 1``; True if one runs."""
    dist = _dist()
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if env_world_size() <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return True


def check_world_config(config: Any, world: int) -> None:
    """ValueError, before anything trains, when ``config`` cannot run on ``world`` processes."""
    if world > 1 and config.method == "esam":
        raise ValueError("method 'esam' is not supported on several processes (its data selection needs the "
                         "global batch's per-sample losses); use one process or method 'sam'")
    split_plan(config.batch_size, world=world, ascent_splits=config.ascent_splits, accumulate=config.accumulate,
               sharpness_aware=config.method != "base")


class RankStore:
    """The results store as one process of a group sees it: rank 0 writes, the others only read and wait."""

    def __init__(self, store: Any) -> None:
        dist = _dist()
        self.inner, self.rank = store, dist.get_rank()

    def __getattr__(self, name: str) -> Any:  # status, load, load_checkpoint, path, root...
        return getattr(self.inner, name)

    def _barrier(self) -> None:
        _dist().barrier()

    def delete(self, config: Any) -> None:
        if self.rank == 0:
            self.inner.delete(config)
        self._barrier()

    def begin(self, config: Any) -> Any:
        return self.inner.begin(config) if self.rank == 0 else self.inner.path(config)

    def write_metrics(self, config: Any, rows: list) -> None:
        if self.rank == 0:
            self.inner.write_metrics(config, rows)

    def save_checkpoint(self, config: Any, state: dict) -> None:
        if self.rank == 0:
            self.inner.save_checkpoint(config, state)
        self._barrier()

    def finish(self, config: Any, summary: dict, state_dict: dict | None = None, **kw: Any) -> Any:
        result = self.inner.finish(config, summary, state_dict, **kw) if self.rank == 0 else None
        self._barrier()
        return result if result is not None else self.inner.load(config)


def prepare(store: Any, progress: bool, device: Any) -> tuple[Any, bool, torch.device | None]:
    """Hook of :func:`samlab.train.loop.train`: under several processes, the rank's store view, progress only on
    rank 0, and this process's device (``cuda:LOCAL_RANK`` on CUDA); unchanged (and device None) otherwise."""
    if env_world_size() <= 1 and not active():
        return store, progress, None
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if not init_from_env(dev):
        return store, progress, None
    rank_store = store if isinstance(store, RankStore) else RankStore(store)
    return rank_store, progress and rank_store.rank == 0, dev


def make_runner(config: Any, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device) -> Any:
    """Hook of the training loop: a :class:`samlab.train.precision.StepRunner` when the run needs one (amp,
    accumulation, ascent splits, several processes), else None (the plain loop)."""
    world = _dist().get_world_size() if active() else 1
    plain = (config.amp == "off" and config.accumulate == 1 and config.ascent_splits == 1)
    if plain and world == 1:
        return None
    check_world_config(config, world)
    ddp = None
    if world > 1:
        ddp = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    return StepRunner(model, opt, batch_size=config.batch_size, amp=config.amp, accumulate=config.accumulate,
                      ascent_splits=config.ascent_splits, device=device, ddp=ddp,
                      rank=_dist().get_rank() if world > 1 else 0, world=world)
