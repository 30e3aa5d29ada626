"""Image-classifier training for every method (SGD, SAM, ASAM, SAMSON, ESAM), resumable, through the results store.

* :mod:`samlab.train.config`: :class:`TrainConfig`, one validated run;
* :mod:`samlab.train.loop`: :func:`train` (the one entry point of notebooks, command line and tests) and
  :func:`train_all`;
* :mod:`samlab.train.throughput`: training images/s of several configs, measured interleaved and stored.
"""
from __future__ import annotations

from .config import BASES, DEVICES, IMAGE_MODELS, METHODS, SCHEDULES, TrainConfig
from .loop import available_dataset, evaluate, make_optimizer, resolve_device, train, train_all, train_epoch
from .throughput import ThroughputConfig, measure_throughput, throughput_of

__all__ = ["METHODS", "BASES", "SCHEDULES", "DEVICES", "IMAGE_MODELS", "TrainConfig", "train", "train_all",
           "evaluate", "available_dataset", "make_optimizer", "resolve_device", "train_epoch",
           "ThroughputConfig", "measure_throughput", "throughput_of"]
