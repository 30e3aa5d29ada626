"""Runs that differ only in their training seed: their names in a population (``"SAM + clipping · seed 2"``) and
their noise or PCM curves merged into one per setting, so that claims are set against the seed-to-seed spread
(notebook 05's MNIST-1D population has several seeds per setting)."""
from __future__ import annotations

import re
import statistics
from typing import Any, Iterable, Mapping

__all__ = ["seed_name", "setting_name", "seed_count", "pool_seeds"]

_SEED_SUFFIX = re.compile(r" · seed \d+$")


def seed_name(name: str, seed: int, first: int = 0) -> str:
    """The population's name of one training seed of setting ``name``: ``name`` itself for the ``first`` seed,
    ``"name · seed 2"`` for the others (:func:`setting_name` undoes it)."""
    return name if seed == first else f"{name} · seed {int(seed)}"


def setting_name(name: str) -> str:
    """``"SAM + clipping · seed 2"`` -> ``"SAM + clipping"``: the setting a run belongs to, whatever its seed."""
    return _SEED_SUFFIX.sub("", name)


def seed_count(results: Iterable[Any]) -> int:
    """How many distinct training seeds the runs (stored results or configs) hold."""
    return len({getattr(getattr(r, "config", r), "seed", 0) for r in results})


def pool_seeds(curves: Mapping[str, Mapping[str, Any]],
               configs: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Merge the curves of runs that differ only in their training seed (names from :func:`seed_name`):
    ``(curves, configs)`` by setting name, each merged curve holding every seed's draws (noise curves,
    ``accs[sigma][seed-major draw]``) or repeats (PCM curves, ``accs[seed-major repeat][time]``).

    Its ``mean_acc`` is the mean over seeds and draws and its ``std_acc`` the sample std over them: the spread
    every claim is set against now holds the seed-to-seed spread too. The clean accuracy (sigma_c = 0) of a merged
    curve varies over seeds only. The draw-by-draw pairing of :func:`samlab.noise.robustness_gap` is kept (seed s's
    clean accuracy is paired with seed s's draws). ``"seeds"`` counts the runs merged; ``"draws"`` stays per run.
    A setting with one run is returned as it is (``seeds`` = 1). Curves on different grids are refused.
    """
    groups: dict[str, list[str]] = {}
    for k in curves:
        groups.setdefault(setting_name(k), []).append(k)
    out: dict[str, dict[str, Any]] = {}
    for name, keys in groups.items():
        cs = [curves[k] for k in keys]
        axis = "sigmas" if "sigmas" in cs[0] else "times"
        if any(list(c[axis]) != list(cs[0][axis]) for c in cs):
            raise ValueError(f"the runs of {name!r} have curves on different {axis}: compute them with one spec")
        if axis == "sigmas":
            accs = [[a for c in cs for a in c["accs"][i]] for i in range(len(cs[0][axis]))]
            per_point = accs
        else:
            accs = [row for c in cs for row in c["accs"]]
            per_point = [list(col) for col in zip(*accs)]
        merged = dict(cs[0], accs=accs, seeds=len(cs), runs=list(keys),
                      mean_acc=[statistics.fmean(v) for v in per_point],
                      std_acc=[statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_point])
        if axis == "times":
            merged["digital_acc"] = statistics.fmean(c["digital_acc"] for c in cs)
        out[name] = merged
    return out, {name: configs[keys[0]] for name, keys in groups.items()}
