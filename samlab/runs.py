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
    derived/         results computed from this run (:meth:`RunStore.get_or_compute_derived`)

What enters the key:

* Fields **at their default value are left out** (nested configs too), so adding a field with a default
  to a config class keeps the keys of every run stored before it; setting the new field to another
  value gives a new key. (Consequence: changing a field's *default* changes what old keys mean; give
  the old default explicitly, or bump :data:`FORMAT_VERSION`.)
* Fields declared with ``metadata={"key": False}`` (a device, say) are always left out: they change
  where a run executes, not what it computes.
* The kind is the class name (:func:`kind_of`), not its import path: a stored run is rebuilt through
  the registry of config classes (:func:`register_config`), so a class that moves keeps its runs.

Small JSON-able results (toy sweeps, speed measurements) use :meth:`RunStore.get_or_compute`, which
stores the result as ``summary.json`` in the same layout. Every file is written to a temporary file in
the same folder and renamed into place, so a run killed at any moment never leaves a file that looks
complete.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import math
import os
import shutil
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .paths import runs_dir

__all__ = [
    "FORMAT_VERSION", "RunResult", "RunStore", "run_key", "key_dict", "kind_of", "config_to_dict",
    "config_from_dict", "register_config", "config_class", "canonical_json", "atomic_write_text", "atomic_save",
]

#: Bump when the meaning of stored results changes: every key changes with it.
#: 2: fields at their default left out of the key (format-1 folders are adopted under their new key
#: on first access, see :meth:`RunStore.path`, so nothing is retrained).
FORMAT_VERSION = 2

CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, STATE_FILE, SUMMARY_FILE = (
    "config.json", "metrics.jsonl", "checkpoint.pt", "state_dict.pt", "summary.json")
DERIVED_DIR = "derived"


# --------------------------------------------------------------------------- canonical encoding
def _encode(value: Any) -> Any:
    """Plain-JSON form of a value: non-finite floats become ``{"__float__": "inf"}``, tuples lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _encode(value.item())
    if hasattr(value, "tolist"):  # numpy arrays, torch tensors
        return _encode(value.tolist())
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON: {value!r}")


def _decode(value: Any) -> Any:
    """Inverse of :func:`_encode` (lists stay lists)."""
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, ``repr`` floats, inf/nan as tagged strings)."""
    return json.dumps(_encode(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The fields of a dataclass config that define its result, encoded (nested dataclasses too)."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    return {f.name: _encode(getattr(config, f.name)) for f in dataclasses.fields(config)
            if f.metadata.get("key", True)}


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config of class ``cls`` from :func:`config_to_dict` output (nested dataclasses, tuples)."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for name, raw in data.items():
        if name not in names:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        value = _decode(raw)
        hint = hints.get(name)
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        candidates = typing.get_args(hint) if union else (hint,)
        for typ in candidates:
            if dataclasses.is_dataclass(typ) and isinstance(value, dict):
                value = config_from_dict(typ, raw)
                break
            if (typ is tuple or typing.get_origin(typ) is tuple) and isinstance(value, list):
                item = (typing.get_args(typ) or (None,))[0]
                if dataclasses.is_dataclass(item):  # tuple[SomeConfig, ...]
                    value = tuple(config_from_dict(item, v) if isinstance(v, dict) else v for v in raw)
                else:
                    value = tuple(value)
                break
        kwargs[name] = value
    return cls(**kwargs)


def kind_of(config: Any) -> str:
    """The config's kind: its class name (``TrainConfig``, ``ToyRunConfig``, ...)."""
    return type(config).__name__


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _key_encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return key_dict(value)
    if isinstance(value, dict):
        return {str(k): _key_encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_key_encode(v) for v in value]
    return _encode(value)


def key_dict(config: Any) -> dict[str, Any]:
    """The fields that enter the key: key fields whose value differs from their default (nested configs too)."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    out = {}
    for f in dataclasses.fields(config):
        if not f.metadata.get("key", True):
            continue
        value, default = getattr(config, f.name), _field_default(f)
        if default is not dataclasses.MISSING and _encode(value) == _encode(default):
            continue
        out[f.name] = _key_encode(value)
    return out


def _hash(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]


def run_key(config: Any) -> str:
    """First 16 hex digits of the sha256 of the canonical JSON of format version, kind and :func:`key_dict`."""
    return _hash({"format": FORMAT_VERSION, "kind": kind_of(config), "config": key_dict(config)})


def _legacy_key(config: Any) -> str:
    """The format-1 key (every key field, defaults included), to adopt runs stored before format 2."""
    return _hash({"format": 1, "kind": kind_of(config), "config": config_to_dict(config)})


# --------------------------------------------------------------------------- registry of config classes
_REGISTRY: dict[str, type] = {}
#: Kinds samlab defines, resolved lazily (importing the module registers the class).
_KNOWN_KINDS = {"TrainConfig": "samlab.train.config", "ThroughputConfig": "samlab.train.throughput",
                "ToyRunConfig": "samlab.experiments.variance_generalization"}


def register_config(cls: type | None = None, *, replace: bool = False) -> Any:
    """Class decorator: register a dataclass config under its kind (class name) so stored runs find it.

    A stored run is rebuilt from its kind, not from the import path it was saved under, so a config class
    may move between modules. Registering another class under a taken kind raises ValueError (unless
    ``replace=True``, or it is the same class re-imported, e.g. a reloaded module).
    """
    def wrap(c: type) -> type:
        if not (isinstance(c, type) and dataclasses.is_dataclass(c)):
            raise TypeError(f"register_config: {c!r} is not a dataclass")
        old = _REGISTRY.get(c.__name__)
        same = old is not None and (old.__module__, old.__qualname__) == (c.__module__, c.__qualname__)
        if old is not None and old is not c and not same and not replace:
            raise ValueError(f"kind {c.__name__!r} is already registered by {old.__module__}.{old.__qualname__}; "
                             "config kinds (class names) must be unique")
        _REGISTRY[c.__name__] = c
        return c

    return wrap(cls) if cls is not None else wrap


def config_class(kind: str, qualname: str | None = None) -> type | None:
    """The config class of ``kind``: the registry, then samlab's known modules, then ``qualname`` (an import path)."""
    if kind not in _REGISTRY and kind in _KNOWN_KINDS:
        with contextlib.suppress(ImportError):
            cls = getattr(importlib.import_module(_KNOWN_KINDS[kind]), kind, None)
            if kind not in _REGISTRY and isinstance(cls, type) and dataclasses.is_dataclass(cls):
                _REGISTRY[kind] = cls  # a samlab class its module does not register itself
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    cls = _import_class(qualname)
    return cls if isinstance(cls, type) and cls.__name__ == kind and dataclasses.is_dataclass(cls) else None


# --------------------------------------------------------------------------- atomic file writes
def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    _atomic_write(Path(path), lambda fh: fh.write(text), "w")


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename into place."""
    import torch

    _atomic_write(Path(path), lambda fh: torch.save(obj, fh), "wb")


def _read_json(path: Path) -> Any:
    return _decode(json.loads(path.read_text()))


def _dump_json(value: Any) -> str:
    return json.dumps(_encode(value), indent=1, sort_keys=True, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- results
@dataclass
class RunResult:
    """One stored run: its config (the dataclass when its class imports, else a dict), metrics and summary.

    ``state_dict()`` loads the final weights on demand (tensors only, CPU).
    """

    kind: str
    key: str
    path: Path
    config: Any
    status: str
    metrics: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def state_dict(self, map_location: str = "cpu") -> dict[str, Any]:
        """The final ``state_dict`` (``weights_only=True``); FileNotFoundError when the run stored none."""
        import torch

        path = self.path / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"run {self.kind}-{self.key} has no {STATE_FILE} (status {self.status})")
        return torch.load(path, map_location=map_location, weights_only=True)

    def column(self, name: str) -> list[Any]:
        """One metric over epochs, e.g. ``result.column("test_acc")``."""
        return [row.get(name) for row in self.metrics]


def _import_class(qualname: str | None) -> type | None:
    if not qualname or "." not in qualname:
        return None
    module, _, name = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


class RunStore:
    """A folder of runs keyed by config (default :func:`samlab.paths.runs_dir`, i.e. ``data/runs``)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else runs_dir()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # ---- locating
    def path(self, config: Any) -> Path:
        """The run's folder ``<root>/<kind>-<key>`` (a format-1 folder of the same config is adopted: renamed here)."""
        folder = self.root / f"{kind_of(config)}-{run_key(config)}"
        if not folder.exists():
            self._adopt_legacy(config, folder)
        return folder

    def _adopt_legacy(self, config: Any, folder: Path) -> None:
        """Rename the format-1 folder of ``config`` (key over every field) to its format-2 key; rewrite config.json."""
        old = self.root / f"{kind_of(config)}-{_legacy_key(config)}"
        try:
            meta = _read_json(old / CONFIG_FILE)
        except (OSError, ValueError):
            return
        if meta.get("format") != 1:
            return
        try:
            os.replace(old, folder)
        except OSError:
            return
        meta.update(format=FORMAT_VERSION, key=run_key(config), config=config_to_dict(config))
        atomic_write_text(folder / CONFIG_FILE, _dump_json(meta))

    def status(self, config: Any) -> str:
        """``"missing"`` (no folder), ``"partial"`` (started or interrupted) or ``"finished"``."""
        return self._status_of(self.path(config))

    @staticmethod
    def _status_of(folder: Path) -> str:
        if (folder / SUMMARY_FILE).is_file():
            return "finished"
        if (folder / CONFIG_FILE).is_file():
            return "partial"
        return "missing"

    # ---- reading
    def load(self, config: Any) -> RunResult | None:
        """The stored run of ``config`` (finished or partial), or None when there is none."""
        folder = self.path(config)
        status = self._status_of(folder)
        if status == "missing":
            return None
        return self._result(folder, status, config)

    @staticmethod
    def _config_of(meta: dict[str, Any]) -> Any:
        """The stored config rebuilt through the registry (:func:`config_class`), or the dict when it cannot be."""
        cls = config_class(meta.get("kind", ""), meta.get("class"))
        if cls is not None:
            try:
                return config_from_dict(cls, meta["config"])
            except (TypeError, ValueError):
                pass  # a field this class no longer has, or a value it now refuses: keep the dict
        return meta["config"]

    def _result(self, folder: Path, status: str, config: Any = None) -> RunResult:
        meta = _read_json(folder / CONFIG_FILE)
        if config is None:
            config = self._config_of(meta)
        summary = _read_json(folder / SUMMARY_FILE) if status == "finished" else None
        return RunResult(kind=meta["kind"], key=meta["key"], path=folder, config=config,
                         status=status, metrics=self.read_metrics(folder), summary=summary)

    def list_runs(self, kind: str | None = None) -> list[RunResult]:
        """Every run in the store (optionally of one kind), oldest first; configs of unknown kinds stay dicts.

        Format-1 runs whose class resolves are adopted under their current key on the way.
        """
        if not self.root.is_dir():
            return []
        out: dict[Path, RunResult] = {}
        folders = [p for p in self.root.iterdir() if (p / CONFIG_FILE).is_file() and "-" in p.name]
        for folder in sorted(folders, key=lambda p: ((p / CONFIG_FILE).stat().st_mtime, p.name)):
            if kind is not None and folder.name.rpartition("-")[0] != kind:
                continue
            try:
                meta = _read_json(folder / CONFIG_FILE)
                if meta.get("format") == 1:  # adopt it under its format-2 key when its class resolves
                    config = self._config_of(meta)
                    if isinstance(config, dict):
                        continue
                    folder = self.path(config)
                    if not (folder / CONFIG_FILE).is_file():
                        continue
                elif meta.get("format") != FORMAT_VERSION:
                    continue
                if folder not in out:
                    out[folder] = self._result(folder, self._status_of(folder))
            except (OSError, ValueError, KeyError):
                continue  # unreadable: not ours, or damaged by hand
        return list(out.values())

    @staticmethod
    def read_metrics(folder: Path) -> list[dict[str, Any]]:
        """The metrics rows of a run folder (a damaged trailing line is ignored)."""
        path = Path(folder) / METRICS_FILE
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(_decode(json.loads(line)))
            except json.JSONDecodeError:
                break
        return rows

    # ---- writing (used by the trainer and by get_or_compute)
    def begin(self, config: Any) -> Path:
        """Create the run folder and its ``config.json`` (idempotent); return the folder."""
        folder = self.path(config)
        if not (folder / CONFIG_FILE).is_file():
            cls = type(config)
            meta = {"format": FORMAT_VERSION, "kind": kind_of(config), "key": run_key(config),
                    "class": f"{cls.__module__}.{cls.__qualname__}", "config": config_to_dict(config)}
            atomic_write_text(folder / CONFIG_FILE, _dump_json(meta))
        return folder

    def write_metrics(self, config: Any, rows: list[dict[str, Any]]) -> None:
        """Replace the metrics log with ``rows`` (atomic: a reader never sees half a row)."""
        text = "".join(json.dumps(_encode(r), sort_keys=True, allow_nan=False) + "\n" for r in rows)
        atomic_write_text(self.path(config) / METRICS_FILE, text)

    def save_checkpoint(self, config: Any, state: dict[str, Any]) -> None:
        """Store the resumable state of an unfinished run (atomic)."""
        atomic_save(state, self.path(config) / CHECKPOINT_FILE)

    def load_checkpoint(self, config: Any, map_location: str = "cpu") -> dict[str, Any] | None:
        """The last checkpoint of ``config``'s run, or None."""
        import torch

        path = self.path(config) / CHECKPOINT_FILE
        if not path.is_file():
            return None
        return torch.load(path, map_location=map_location, weights_only=True)

    def finish(self, config: Any, summary: dict[str, Any], state_dict: dict[str, Any] | None = None,
               *, keep_checkpoint: bool = False) -> RunResult:
        """Write the final ``state_dict`` (tensors only), then ``summary.json`` last; return the result.

        The full checkpoint (optimizer moments, RNG) is deleted afterwards unless ``keep_checkpoint``: a
        finished run is never resumed, and the checkpoint would double its disk use.
        """
        folder = self.begin(config)
        if state_dict is not None:
            atomic_save({k: v.detach().cpu().clone() for k, v in state_dict.items()}, folder / STATE_FILE)
        atomic_write_text(folder / SUMMARY_FILE, _dump_json(summary))
        if not keep_checkpoint:
            with contextlib.suppress(OSError):
                os.unlink(folder / CHECKPOINT_FILE)
        result = self.load(config)
        assert result is not None
        return result

    def delete(self, config: Any) -> None:
        """Remove ``config``'s run folder (used by ``RETRAIN = True``)."""
        shutil.rmtree(self.path(config), ignore_errors=True)

    # ---- small results
    def get_or_compute(self, config: Any, fn: Callable[[], dict]) -> dict:
        """The stored result of ``config``, or ``fn()`` computed, stored (as ``summary.json``) and returned.

        The value is returned as read back from JSON (tuples become lists, numpy numbers floats), so the
        first call and every later call return equal values.
        """
        if self.status(config) == "finished":
            return _read_json(self.path(config) / SUMMARY_FILE)
        value = fn()
        if not isinstance(value, dict):
            raise TypeError(f"get_or_compute: fn must return a dict, got {type(value).__name__}")
        text = _dump_json(value)  # fails before anything is written when the value is not JSON-able
        self.begin(config)
        atomic_write_text(self.path(config) / SUMMARY_FILE, text)
        return _decode(json.loads(text))

    # ---- derived results
    def _derived_folder(self, source_config: Any, spec: Any) -> Path:
        return self.path(source_config) / DERIVED_DIR / f"{kind_of(spec)}-{run_key(spec)}"

    def _source_stamp(self, source_config: Any) -> str:
        """A fingerprint of the finished source run (its summary.json): changes whenever the run is redone."""
        return hashlib.sha256((self.path(source_config) / SUMMARY_FILE).read_bytes()).hexdigest()[:16]

    def get_or_compute_derived(self, source_config: Any, spec: Any, compute: Callable[[], dict]) -> dict:
        """A result computed from the finished run of ``source_config`` (noise evaluation, sharpness, landscape).

        ``spec`` is the frozen dataclass config of the computation. The result lives in the source run's folder
        under ``derived/<kind>-<key of spec>/`` and records the source's kind and key and a fingerprint of its
        summary, so it is recomputed when the source is retrained (a changed config has another folder; a
        retrained one another fingerprint) and never served stale. Returned as read back from JSON.
        """
        if self.status(source_config) != "finished":
            raise ValueError(f"the source run {kind_of(source_config)}-{run_key(source_config)} is not finished "
                             f"(status {self.status(source_config)!r}); train it before deriving results from it")
        folder = self._derived_folder(source_config, spec)
        stamp = self._source_stamp(source_config)
        if (folder / SUMMARY_FILE).is_file():
            with contextlib.suppress(OSError, ValueError, KeyError):
                if _read_json(folder / CONFIG_FILE)["source"]["stamp"] == stamp:
                    return _read_json(folder / SUMMARY_FILE)
            shutil.rmtree(folder, ignore_errors=True)  # stale: computed from an earlier version of the run
        value = compute()
        if not isinstance(value, dict):
            raise TypeError(f"get_or_compute_derived: compute must return a dict, got {type(value).__name__}")
        text = _dump_json(value)
        cls = type(spec)
        meta = {"format": FORMAT_VERSION, "kind": kind_of(spec), "key": run_key(spec),
                "class": f"{cls.__module__}.{cls.__qualname__}", "config": config_to_dict(spec),
                "source": {"kind": kind_of(source_config), "key": run_key(source_config), "stamp": stamp}}
        atomic_write_text(folder / CONFIG_FILE, _dump_json(meta))
        atomic_write_text(folder / SUMMARY_FILE, text)
        return _decode(json.loads(text))

    def list_derived(self, source_config: Any, kind: str | None = None) -> list[RunResult]:
        """The current (not stale) derived results of ``source_config``'s run, optionally of one kind."""
        base = self.path(source_config) / DERIVED_DIR
        if self.status(source_config) != "finished" or not base.is_dir():
            return []
        stamp = self._source_stamp(source_config)
        out = []
        for folder in sorted(base.iterdir()):
            if kind is not None and folder.name.rpartition("-")[0] != kind:
                continue
            try:
                meta = _read_json(folder / CONFIG_FILE)
                if meta["source"]["stamp"] != stamp or self._status_of(folder) != "finished":
                    continue
                out.append(self._result(folder, "finished"))
            except (OSError, ValueError, KeyError):
                continue
        return out
