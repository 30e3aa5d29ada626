"""The results store's folders: atomic writes, :class:`RunResult`, :class:`RunStore` (layout in :mod:`samlab.runs`)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..paths import atomic_write, runs_dir
from . import keys as _keys
from .keys import _decode, _encode, config_class, config_from_dict, config_to_dict, kind_of, run_key

__all__ = ["RunResult", "RunStore", "atomic_write_text", "atomic_save", "CONFIG_FILE", "METRICS_FILE",
           "CHECKPOINT_FILE", "STATE_FILE", "SUMMARY_FILE", "DERIVED_DIR"]

CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, STATE_FILE, SUMMARY_FILE = (
    "config.json", "metrics.jsonl", "checkpoint.pt", "state_dict.pt", "summary.json")
DERIVED_DIR = "derived"


# --------------------------------------------------------------------------- atomic file writes
def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`samlab.paths.atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(text), "w")


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename into place."""
    import torch

    atomic_write(path, lambda fh: torch.save(obj, fh), "wb")


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


class RunStore:
    """A folder of runs keyed by config (default :func:`samlab.paths.runs_dir`, i.e. ``data/runs``)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else runs_dir()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # ---- locating
    def path(self, config: Any) -> Path:
        """The run's folder ``<root>/<kind>-<key>``."""
        return self.root / f"{kind_of(config)}-{run_key(config)}"

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

        Folders of another format version are left out (their keys mean something else)."""
        if not self.root.is_dir():
            return []
        out = []
        folders = [p for p in self.root.iterdir() if (p / CONFIG_FILE).is_file() and "-" in p.name]
        for folder in sorted(folders, key=lambda p: ((p / CONFIG_FILE).stat().st_mtime, p.name)):
            if kind is not None and folder.name.rpartition("-")[0] != kind:
                continue
            try:
                if _read_json(folder / CONFIG_FILE).get("format") == _keys.FORMAT_VERSION:
                    out.append(self._result(folder, self._status_of(folder)))
            except (OSError, ValueError, KeyError):
                continue  # unreadable: not ours, or damaged by hand
        return out

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
            meta = {"format": _keys.FORMAT_VERSION, "kind": kind_of(config), "key": run_key(config),
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

    # ---- measurements of a run
    def _measure_folder(self, config: Any, spec: Any) -> Path:
        return self.path(config) / DERIVED_DIR / f"{kind_of(spec)}-{run_key(spec)}"

    def _run_stamp(self, config: Any) -> str | None:
        """A fingerprint of the finished run (its summary.json; changes whenever the run is redone), or None."""
        try:
            return hashlib.sha256((self.path(config) / SUMMARY_FILE).read_bytes()).hexdigest()[:16]
        except OSError:
            return None

    def _current(self, folder: Path, stamp: str | None) -> bool:
        """Whether the measurement in ``folder`` is finished and was computed from the run as it is now."""
        if stamp is None or not (folder / SUMMARY_FILE).is_file():
            return False
        try:
            return _read_json(folder / CONFIG_FILE)["run"]["stamp"] == stamp
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def stored_measure(self, config: Any, spec: Any) -> dict | None:
        """The measurement ``spec`` of ``config``'s run if it is stored and current, else None: never computes.

        None also when the run is not finished, or when the measurement was computed from an earlier version
        of the run (retrained, or changed in place)."""
        folder = self._measure_folder(config, spec)
        if not self._current(folder, self._run_stamp(config)):
            return None
        return _read_json(folder / SUMMARY_FILE)

    def measure(self, config: Any, spec: Any, compute: Callable[[], dict]) -> dict:
        """The measurement ``spec`` (a frozen dataclass: a noise curve, a PCM curve, a sharpness value, a landscape)
        of ``config``'s finished run: from the store, else ``compute()`` stored and returned.

        It lives in the run's folder under ``derived/<kind>-<key of spec>/``, keyed by the spec alone (the folder
        says which run), and records a fingerprint of the run's summary: a measurement of an earlier version of the
        run is never served (a retrained run is deleted with its measurements; a changed config is another run).
        Returned as read back from JSON. ValueError when the run is not finished.
        """
        stamp = self._run_stamp(config)
        if stamp is None or self.status(config) != "finished":
            raise ValueError(f"the run {kind_of(config)}-{run_key(config)} is not finished (status "
                             f"{self.status(config)!r}); train it before measuring it")
        folder = self._measure_folder(config, spec)
        if self._current(folder, stamp):
            return _read_json(folder / SUMMARY_FILE)
        shutil.rmtree(folder, ignore_errors=True)  # absent, unfinished or stale
        value = compute()
        if not isinstance(value, dict):
            raise TypeError(f"measure: compute must return a dict, got {type(value).__name__}")
        text = _dump_json(value)
        cls = type(spec)
        meta = {"format": _keys.FORMAT_VERSION, "kind": kind_of(spec), "key": run_key(spec),
                "class": f"{cls.__module__}.{cls.__qualname__}", "config": config_to_dict(spec),
                "run": {"kind": kind_of(config), "key": run_key(config), "stamp": stamp}}
        atomic_write_text(folder / CONFIG_FILE, _dump_json(meta))
        atomic_write_text(folder / SUMMARY_FILE, text)
        return _decode(json.loads(text))

    def list_measures(self, config: Any, kind: str | None = None) -> list[RunResult]:
        """The current (not stale) measurements of ``config``'s run, optionally of one spec kind."""
        base = self.path(config) / DERIVED_DIR
        stamp = self._run_stamp(config)
        if stamp is None or not base.is_dir():
            return []
        return [self._result(folder, "finished") for folder in sorted(base.iterdir())
                if (kind is None or folder.name.rpartition("-")[0] == kind) and self._current(folder, stamp)]
