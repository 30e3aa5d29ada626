"""The results store: one folder per experiment config, keyed by a hash of the config, written atomically.

Every experiment is a frozen dataclass config. :func:`run_key` hashes the canonical JSON of
``{"format": FORMAT_VERSION, "kind": <class name>, "config": <fields not at their default>}``; the run
lives in ``<root>/<kind>-<key>/``::

    config.json      what was run (kind, key, format, class, every field)
    metrics.jsonl    one JSON row per finished epoch (rewritten atomically, never half a line)
    checkpoint.pt    last epoch's full state (model, optimizer, scheduler, RNG, metrics so far);
                     only while the run is unfinished: :meth:`RunStore.finish` deletes it
    state_dict.pt    final weights, tensors only (``torch.load(..., weights_only=True)``)
    summary.json     written LAST: its presence means the run is finished
    derived/         measurements of this run (noise and PCM curves, sharpness, landscapes: :meth:`RunStore.measure`)

What enters the key:

* Fields **at their default value are left out** (nested configs too), so adding a field with a default
  to a config class keeps the keys of every run stored before it; setting the new field to another
  value gives a new key. (Consequence: changing a field's *default* changes what old keys mean; give
  the old default explicitly, or bump :data:`FORMAT_VERSION`.)
* Fields declared with ``metadata={"key": False}`` (a device, say) are always left out: they change
  where a run executes, not what it computes.
* The kind is the class name (:func:`kind_of`), not its import path: a stored run is rebuilt through
  the registry of config classes (:func:`register_config`), so a class that moves keeps its runs.

A measurement of a finished run (a noise or PCM curve, a sharpness value, a landscape) is a frozen spec of that run:
:meth:`RunStore.measure` gets it from ``<run>/derived/<spec kind>-<key of the spec>/`` or computes, stores and returns
it; :meth:`RunStore.stored_measure` returns it only when stored, else None. Each records a fingerprint of the run's
``summary.json``: a measurement of an earlier version of the run is never served (``RETRAIN`` deletes the run folder
with its measurements). :func:`samlab.train.load.measure_run` is the caller that loads the run's model and data once.

Small JSON-able results (toy sweeps, speed measurements) use :meth:`RunStore.get_or_compute`, which
stores the result as ``summary.json`` in the same layout. Every file is written to a temporary file in
the same folder and renamed into place, so a run killed at any moment never leaves a file that looks
complete.
"""
from __future__ import annotations

from .keys import (FORMAT_VERSION, canonical_json, config_class, config_from_dict, config_to_dict, key_dict,
                   kind_of, register_config, run_key)
from .store import RunResult, RunStore, atomic_save, atomic_write_text

__all__ = [
    "FORMAT_VERSION", "RunResult", "RunStore", "run_key", "key_dict", "kind_of", "config_to_dict",
    "config_from_dict", "register_config", "config_class", "canonical_json", "atomic_write_text", "atomic_save",
]
