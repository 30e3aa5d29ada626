"""A sweep's configs: typed ``FIELD=V1,V2`` grids over TrainConfig fields, expanded over base configs."""

import dataclasses
import itertools
import math
from typing import Any, Iterable, Mapping, Sequence


from ..train import TrainConfig


_NOT_GRIDDABLE = {"device": "device is not part of a run's identity (give it with --device)"}


# ------------------------------------------------------------------------------------------------ grids
def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def _parse_value(name: str, kind: str, text: str) -> Any:
    """One grid value, typed as the TrainConfig field ``name`` (annotation ``kind``)."""
    t = text.strip()
    if "None" in kind and t.lower() in ("none", "null"):
        return None
    base = kind.replace("| None", "").strip()
    try:
        if base == "bool":
            low = t.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if base == "int":
            value = float(t)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if base == "float":
            value = float(t)
            if math.isnan(value):
                raise ValueError
            return value
    except ValueError:
        raise ValueError(f"--grid {name}: {text!r} is not a{'n' if base == 'int' else ''} {base}"
                         f"{' (or none)' if 'None' in kind else ''}") from None
    if not t:
        raise ValueError(f"--grid {name}: an empty value is not allowed")
    return t


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["rho=0.05,0.1", "seed=0,1,2"]`` -> ``{"rho": [0.05, 0.1], "seed": [0, 1, 2]}``, typed per TrainConfig field.

    ValueError naming the argument for a malformed spec, a field TrainConfig lacks, or a value of the wrong type.
    """
    types = _field_types()
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = str(spec).partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not values.strip():
            raise ValueError(f"--grid {spec!r} must look like FIELD=V1,V2,... (e.g. rho=0.05,0.1)")
        if name in _NOT_GRIDDABLE:
            raise ValueError(f"--grid {name}: {_NOT_GRIDDABLE[name]}")
        if name not in types:
            allowed = ", ".join(n for n in types if n not in _NOT_GRIDDABLE)
            raise ValueError(f"--grid {name}: TrainConfig has no field {name!r}; allowed: {allowed}")
        if name in axes:
            raise ValueError(f"--grid {name} is given twice; list all its values in one --grid")
        axes[name] = list(dict.fromkeys(_parse_value(name, types[name], v) for v in values.split(",")))
    return axes


def _with(base: TrainConfig | Mapping[str, Any], over: Mapping[str, Any]) -> TrainConfig:
    if isinstance(base, Mapping):
        return TrainConfig(**{**base, **over})
    over = dict(over)
    if "method" in over and over["method"] != base.method:  # the new method's own defaults, not base's
        for k in ("rho", "eta", "beta", "gamma", "adaptive_params"):
            over.setdefault(k, None)
        over.setdefault("p", 2.0)
    return dataclasses.replace(base, **over)


def expand(bases: TrainConfig | Mapping[str, Any] | Sequence[TrainConfig | Mapping[str, Any]],
           axes: Mapping[str, Sequence[Any]] | None = None) -> list[TrainConfig]:
    """Every base (a TrainConfig, or a dict of fields) crossed with every combination of ``axes``, deduplicated.

    A combination TrainConfig refuses raises ValueError naming the combination.
    """
    if isinstance(bases, (TrainConfig, Mapping)):
        bases = [bases]
    axes = dict(axes or {})
    types = _field_types()
    for name in axes:
        if name not in types or name in _NOT_GRIDDABLE:
            raise ValueError(f"grid axis {name!r} is not a TrainConfig field that identifies a run")
    names = list(axes)
    out: list[TrainConfig] = []
    for base in bases:
        for values in itertools.product(*(axes[n] for n in names)):
            combo = dict(zip(names, values))
            try:
                out.append(_with(base, combo))
            except ValueError as err:
                raise ValueError(f"grid point {combo}: {err}") from None
    return list(dict.fromkeys(out))
