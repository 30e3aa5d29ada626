"""Populations of runs keyed by :class:`Setting` (method, training configuration, training seed), and the noise or
PCM curves of runs that differ only in their seed merged into one per setting, so that claims are set against the
seed-to-seed spread (notebook 05's MNIST-1D population has several seeds per setting). Labels are for display
only: nothing is ever parsed back from one."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ..checks import check_choice, check_int
from ..methods import method_name

__all__ = ["TRAININGS", "Setting", "training_of", "setting_of", "seed_count", "pool_seeds"]

#: Training configurations of the studies (SAMSON sec. 6.1): plain, with weight clipping, with additive noise.
TRAININGS = ("plain", "noise", "clipping")


@dataclass(frozen=True)
class Setting:
    """One member of a study's population: ``method`` (:func:`samlab.methods.method_name`: ``SGD``, ``SAM``,
    ``SAMSON_2``...), ``training`` (:data:`TRAININGS`) and the training ``seed`` (None: the setting over all its
    seeds, or a population with one seed per setting). :attr:`label` is its display name."""

    method: str
    training: str = "plain"
    seed: int | None = None

    def __post_init__(self) -> None:
        check_choice("training", self.training, TRAININGS)
        check_int("seed", self.seed, low=0, optional=True)

    @property
    def label(self) -> str:
        """``"SAM + clipping · seed 2"``: for display only."""
        return (self.method + ("" if self.training == "plain" else f" + {self.training}")
                + ("" if self.seed is None else f" · seed {self.seed}"))

    def __str__(self) -> str:
        return self.label

    def pooled(self) -> Setting:
        """The setting over all its seeds."""
        return replace(self, seed=None)


def training_of(config: Any) -> str:
    """``"plain"``, ``"clipping"`` or ``"noise"`` (additive-noise training, with or without std clipping)."""
    if config.noise_sigma_g is not None:
        return "noise"
    return "clipping" if config.clip is not None or config.clip_std_alpha is not None else "plain"


def setting_of(config: Any, *, seed: bool = True) -> Setting:
    """The :class:`Setting` of a training config (with its seed, or ``seed=False`` for a one-seed population)."""
    return Setting(method_name(config), training_of(config), config.seed if seed else None)


def seed_count(results: Iterable[Any]) -> int:
    """How many distinct training seeds the runs (stored results or configs) hold."""
    return len({getattr(getattr(r, "config", r), "seed", 0) for r in results})


def pool_seeds(curves: Mapping[Setting, Mapping[str, Any]],
               configs: Mapping[Setting, Any]) -> tuple[dict[Setting, dict[str, Any]], dict[Setting, Any]]:
    """Merge the curves of runs that differ only in their training seed: ``(curves, configs)`` keyed by
    :meth:`Setting.pooled`, each merged curve holding every seed's draws (noise curves, ``accs[sigma][seed-major
    draw]``) or repeats (PCM curves, ``accs[seed-major repeat][time]``).

    Its ``mean_acc`` is the mean over seeds and draws and its ``std_acc`` the sample std over them: the spread
    the figures show now holds the seed-to-seed spread too. At sigma_c = 0 (no noise: every draw repeats the
    seed's clean accuracy) the mean and std are over the seeds' clean accuracies, one value per seed. The
    draw-by-draw pairing of :func:`samlab.noise.robustness_gap` is kept (seed s's clean accuracy is paired with
    seed s's draws). ``"seeds"`` counts the runs merged and ``"runs"`` lists their labels; ``"draws"`` stays per
    run. A setting with one run is returned as it is (``seeds`` = 1). Curves on
    different grids are refused.
    """
    groups: dict[Setting, list[Setting]] = {}
    for k in curves:
        groups.setdefault(k.pooled(), []).append(k)
    out: dict[Setting, dict[str, Any]] = {}
    for setting, keys in groups.items():
        cs = [curves[k] for k in keys]
        axis = "sigmas" if "sigmas" in cs[0] else "times"
        if any(list(c[axis]) != list(cs[0][axis]) for c in cs):
            raise ValueError(f"the runs of {setting.label!r} have curves on different {axis}: compute them with one "
                             "spec")
        if axis == "sigmas":
            accs = [[a for c in cs for a in c["accs"][i]] for i in range(len(cs[0][axis]))]
            # sigma_c = 0: every draw repeats the seed's clean accuracy, so one value per seed (the std over
            # seeds x repeated draws would scale it by sqrt(D (S - 1) / (S D - 1)), 0.845 at 3 seeds x 5 draws)
            per_point = [[c["accs"][i][0] for c in cs] if s == 0.0 else accs[i]
                         for i, s in enumerate(cs[0][axis])]
        else:
            accs = [row for c in cs for row in c["accs"]]
            per_point = [list(col) for col in zip(*accs)]
        merged = dict(cs[0], accs=accs, seeds=len(cs), runs=[k.label for k in keys],
                      mean_acc=[statistics.fmean(v) for v in per_point],
                      std_acc=[statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_point])
        if axis == "times":
            merged["digital_acc"] = statistics.fmean(c["digital_acc"] for c in cs)
        out[setting] = merged
    return out, {setting: configs[keys[0]] for setting, keys in groups.items()}
