"""Image-classifier training for every method (SGD, SAM, ASAM, SAMSON, ESAM), resumable, through the results store.

* :mod:`samlab.train.config`: :class:`TrainConfig`, one validated run;
* :mod:`samlab.train.loop`: :func:`train` (the one entry point of notebooks, command line and tests),
  :func:`train_all`, and the pieces other modules reuse (:func:`run_data`, :func:`make_optimizer`,
  :func:`make_scheduler`, :func:`train_epoch`);
* :mod:`samlab.train.device`: :func:`resolve_device` (``auto``: CUDA when there is one, else CPU);
* :mod:`samlab.train.weight_noise`: additive-noise training (SAMSON eq. 9), one noise draw per step;
* :mod:`samlab.train.load`: :func:`load_run`, a stored run back as a model with its final weights and the exact
  data split it was trained and tested on;
* :mod:`samlab.train.throughput`: training images/s of several configs, measured interleaved and stored.

Data preparation lives in :mod:`samlab.data` (``available_dataset``, ``load_training_data``), evaluation in
:mod:`samlab.evaluate`.

**Randomness: one rule for the whole library.** samlab never draws from or reseeds torch's global RNG. Every
random draw (batch order, augmentation, data subsets, ESAM's SWP draws, noise) takes an explicit
``torch.Generator`` seeded from the config's ``seed``. Code that can only use the global RNG (the
initialisation of ``nn.Module`` layers) runs inside ``torch.random.fork_rng()`` seeded from the config's
``seed``, so :func:`train` (and :func:`samlab.models.create_model` with ``seed=``) leaves the caller's global
RNG state exactly as it found it, and the same seed gives the same numbers on CPU.
"""
from __future__ import annotations

# Defined in samlab.data; kept here while notebooks 05 and 06 call sl.train.available_dataset.
from ..data import available_dataset
from .config import DEVICES, IMAGE_MODELS, SCHEDULES, TrainConfig
from .device import resolve_device
from .load import LoadedRun, load_run
from .loop import make_optimizer, make_scheduler, make_weight_noise, run_data, train, train_all, train_epoch
from .weight_noise import AdditiveWeightNoise, additive_noise_std, draw_additive_noise
from .throughput import Speeds, ThroughputConfig, measure_throughput, throughput_of

__all__ = ["SCHEDULES", "DEVICES", "IMAGE_MODELS", "TrainConfig", "train", "train_all",
           "run_data", "make_optimizer", "make_scheduler", "resolve_device", "train_epoch", "LoadedRun", "load_run",
           "ThroughputConfig", "Speeds", "measure_throughput", "throughput_of", "available_dataset",
           "make_weight_noise", "AdditiveWeightNoise", "additive_noise_std", "draw_additive_noise"]
