"""Training speed (images/s) of several configs, measured interleaved with the trainer's own step code.

:func:`throughput_of` measures, :func:`measure_throughput` measures once per machine through the results store and
returns :class:`Speeds`: the median images/s per config plus every round, so a comparison can state its spread
(speeds on a shared machine move by ~10 % between measurements; only differences larger than the spread count).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..checks import check_int
from ..models import create_model
from ..runs import RunStore, register_config
from .config import TrainConfig
from .device import resolve_device
from .loop import make_optimizer, train_epoch

__all__ = ["ThroughputConfig", "Speeds", "throughput_of", "measure_throughput"]

_NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "digits": 10}


@register_config
@dataclass(frozen=True)
class ThroughputConfig:
    """A speed measurement of training steps (stored, as it depends on the machine: ``machine`` and ``threads``)."""

    runs: tuple[TrainConfig, ...]
    steps: int = 10
    warmup: int = 2
    rounds: int = 3
    threads: int = 1
    device: str = "cpu"
    machine: str = ""


def throughput_of(configs: Sequence[TrainConfig], *, steps: int = 10, warmup: int = 2, rounds: int = 3,
                  device: str | torch.device | None = None, progress: bool = False) -> dict[str, Any]:
    """Measure training images/s of each config, interleaved (not stored; see :func:`measure_throughput`).

    Each config gets its model and optimizer and a fixed random CIFAR-shaped batch of its ``batch_size``; after
    ``warmup`` steps each, ``rounds`` rounds run ``steps`` steps of every config in turn with the trainer's own step
    code. Returns ``{"images_per_s": [median over rounds per config], "rounds": [[per-round values] per config]}``.
    """
    configs = list(dict.fromkeys(configs))
    steps, warmup, rounds = check_int("steps", steps, low=1), check_int("warmup", warmup, low=0), check_int("rounds", rounds, low=1)
    dev = resolve_device(device if device is not None else configs[0].device if configs else "auto")
    setups = []
    for i, c in enumerate(configs):
        model = create_model(c.model, num_classes=_NUM_CLASSES[c.dataset], seed=c.seed).to(dev)
        gen = torch.Generator().manual_seed(i)
        x = torch.randn(c.batch_size, 3, 32, 32, generator=gen).to(dev)
        y = torch.randint(0, _NUM_CLASSES[c.dataset], (c.batch_size,), generator=gen).to(dev)
        opt = make_optimizer(c, model)
        if warmup:
            train_epoch(model, opt, [(x, y)] * warmup, warmup, dev, None)
        setups.append((model, opt, x, y))
    speeds: list[list[float]] = [[] for _ in configs]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rounds * len(configs), desc="measuring images/s", unit="run")
    for _ in range(rounds):
        for i, (model, opt, x, y) in enumerate(setups):
            _, _, seen, seconds = train_epoch(model, opt, [(x, y)] * steps, steps, dev, None)
            speeds[i].append(seen / max(seconds, 1e-9))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return {"images_per_s": [statistics.median(v) for v in speeds], "rounds": speeds}


class Speeds(dict):
    """``{config: median images/s over rounds}`` (a plain dict to read) that also keeps every round's value.

    Rounds are interleaved (round k runs every config in turn), so the per-round ratio of two configs compares
    them under the same load: :meth:`ratio` gives its median, minimum and maximum over rounds.
    """

    def __init__(self, rounds: dict[Any, list[float]]) -> None:
        super().__init__({c: statistics.median(v) for c, v in rounds.items()})
        self.rounds = {c: list(v) for c, v in rounds.items()}

    def spread(self, config: Any) -> tuple[float, float]:
        """(min, max) images/s of ``config`` over rounds."""
        v = self.rounds[config]
        return min(v), max(v)

    def ratio(self, config: Any, reference: Any) -> tuple[float, float, float]:
        """(median, min, max) over rounds of ``config``'s images/s divided by ``reference``'s in the same round."""
        r = [a / b for a, b in zip(self.rounds[config], self.rounds[reference])]
        return statistics.median(r), min(r), max(r)


def measure_throughput(configs: Sequence[TrainConfig], *, steps: int = 10, warmup: int = 2, rounds: int = 3,
                       device: str | torch.device | None = None, store: RunStore | None = None,
                       progress: bool = True, retrain: bool = False) -> Speeds:
    """Training images per second of each config, measured *interleaved* so that load from other processes hits all alike.

    :func:`throughput_of`, stored in the results store (keyed by the configs, sizes, thread count, device and host
    name: a speed belongs to a machine); ``retrain=True`` measures again. Returns :class:`Speeds`
    (``{config: median images/s}`` with ``.rounds``, ``.spread(config)``, ``.ratio(config, reference)``).
    """
    import platform

    configs = list(dict.fromkeys(configs))
    dev = resolve_device(device if device is not None else configs[0].device if configs else "auto")
    spec = ThroughputConfig(runs=tuple(configs), steps=check_int("steps", steps, low=1), warmup=check_int("warmup", warmup, low=0),
                            rounds=check_int("rounds", rounds, low=1), threads=torch.get_num_threads(), device=str(dev),
                            machine=platform.node())
    store = store if store is not None else RunStore()
    if retrain:
        store.delete(spec)
    result = store.get_or_compute(spec, lambda: throughput_of(configs, steps=steps, warmup=warmup, rounds=rounds,
                                                              device=dev, progress=progress))
    return Speeds(dict(zip(configs, result["rounds"])))
