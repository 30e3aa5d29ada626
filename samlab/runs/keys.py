"""Keys of the results store: the canonical JSON of a config, the fields that enter its key, the format version,
and the registry of config classes by kind (see :mod:`samlab.runs` for the rules).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import types
import typing
from typing import Any

__all__ = ["FORMAT_VERSION", "canonical_json", "config_to_dict", "config_from_dict", "kind_of", "key_dict", "run_key",
           "register_config", "config_class"]

#: Bump when the meaning of stored results changes: every key changes with it.
#: 2: fields at their default left out of the key.
FORMAT_VERSION = 2


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


# --------------------------------------------------------------------------- registry of config classes
_REGISTRY: dict[str, type] = {}


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
    """The config class of ``kind``: the registry, else ``qualname`` (the import path stored in ``config.json``)."""
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    cls = _import_class(qualname)
    return cls if isinstance(cls, type) and cls.__name__ == kind and dataclasses.is_dataclass(cls) else None


def _import_class(qualname: str | None) -> type | None:
    if not qualname or "." not in qualname:
        return None
    module, _, name = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
