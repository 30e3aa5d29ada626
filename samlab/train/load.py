"""A stored training run back in memory, and the measurements of stored runs.

:func:`load_run` gives the model with its final weights and the exact data it saw: evaluating it on its test split
reproduces the stored final test accuracy exactly (same weights, same images, same evaluation code).
:func:`measure_run` is the one place a measurement of a run (a noise or PCM curve, a sharpness value, a landscape:
any spec with ``compute(model, data, *, device, progress)``) loads the run: only when the store has no current one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, MutableMapping

import torch
from torch import nn

from ..data import ImageData
from ..evaluate import evaluate
from ..models import create_model
from ..runs import RunResult, RunStore
from .config import TrainConfig
from .loop import resolve_device, run_data

__all__ = ["LoadedRun", "load_run", "measure_run"]


@dataclass(frozen=True, repr=False)
class LoadedRun:
    """A finished run: ``model`` (final weights, eval mode, on ``device``), ``data`` (its split), config and summary.

    ``data`` holds exactly what the run trained and tested on: ``train_x/train_y`` and ``test_x/test_y`` after the
    ``max_*_samples`` subsets, the calibration split ``calib_x/calib_y`` (cut from train, never trained on), and the
    normalisation ``mean``/``std``. Images stay uint8 on the CPU.
    """

    config: TrainConfig
    result: RunResult
    model: nn.Module
    data: ImageData
    device: torch.device

    def __repr__(self) -> str:
        return f"LoadedRun({self.config.label}, {self.config.model}, {self.data!r}, device={self.device})"

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary or {}

    @property
    def mean(self) -> tuple[float, ...]:
        return self.data.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.data.std

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of ``"train"``, ``"test"`` or ``"calib"``."""
        return self.data.split(name)

    def evaluate(self, split: str = "test", *, batch_size: int = 500) -> tuple[float, float]:
        """(mean loss, accuracy) of the model on one split, with the trainer's own evaluation."""
        x, y = self.split(split)
        return evaluate(self.model, x, y, mean=self.mean, std=self.std, batch_size=batch_size, device=self.device)


def load_run(config_or_result: TrainConfig | RunResult, *, store: RunStore | None = None,
             device: str | torch.device | None = None) -> LoadedRun:
    """The finished run of a :class:`TrainConfig` (or a :class:`~samlab.runs.RunResult`) as a :class:`LoadedRun`.

    The weights load with ``weights_only=True``; the data come from :func:`samlab.train.run_data` (the same split
    as in training, cached per process). Raises LookupError when the run is not finished in the store. Leaves the
    global RNG untouched (the throwaway initialisation runs in a forked, seeded RNG).
    """
    if isinstance(config_or_result, RunResult):
        result = config_or_result
        config = result.config
        if not isinstance(config, TrainConfig):
            raise TypeError(f"load_run needs a TrainConfig run; this result's config is {type(config).__name__} "
                            f"({result.kind}-{result.key})")
        if not result.finished:
            raise LookupError(f"run {result.kind}-{result.key} is not finished (status {result.status!r})")
    elif isinstance(config_or_result, TrainConfig):
        config = config_or_result
        store = store if store is not None else RunStore()
        loaded = store.load(config)
        if loaded is None or not loaded.finished:
            status = "missing" if loaded is None else loaded.status
            raise LookupError(f"{config.label} ({config.model}, {config.dataset}) is not finished in {store.root} "
                              f"(status {status!r}); train it first with samlab.train.train(config)")
        result = loaded
    else:
        raise TypeError(f"config_or_result must be a TrainConfig or a RunResult, got {type(config_or_result).__name__}")
    dev = resolve_device(device if device is not None else config.device)
    data = run_data(config)
    model = create_model(config.model, num_classes=data.num_classes, seed=config.seed)
    model.load_state_dict(result.state_dict(map_location="cpu"))
    return LoadedRun(config=config, result=result, model=model.to(dev).eval(), data=data, device=dev)


def measure_run(config: TrainConfig, spec: Any, *, store: RunStore | None = None,
                device: str | torch.device | None = None, progress: bool = True,
                loaded: MutableMapping[TrainConfig, LoadedRun] | None = None) -> dict:
    """The measurement ``spec`` of ``config``'s finished run: from the store, else computed on the loaded run and
    stored in the run's folder (:meth:`samlab.runs.RunStore.measure`; the stored-only lookup is
    :meth:`~samlab.runs.RunStore.stored_measure`).

    ``spec`` is a frozen spec with ``compute(model, data, *, device, progress)`` (:class:`samlab.noise.NoiseCurveSpec`,
    :class:`samlab.analog.PCMCurveSpec`, :class:`samlab.sharpness.MSharpnessSpec`, ...). ``loaded``: a dict the
    caller keeps (config -> :class:`LoadedRun`) so a run measured several ways loads once. ValueError when the run
    is not finished.
    """
    store = store if store is not None else RunStore()
    cache = loaded if loaded is not None else {}

    def compute() -> dict:
        if config not in cache:
            cache[config] = load_run(config, store=store, device=device)
        run = cache[config]
        return spec.compute(run.model, run.data, device=device, progress=progress)

    return store.measure(config, spec, compute)
