"""Notebook 05's claims as ledger findings: every robustness claim of the SAMSON paper (and one from outside the
seeds) tested by paired comparisons of the stored noise and PCM curves (:mod:`samlab.evidence`, one rule).

**Pairing.** Every run of a population has the same training seeds and every noise curve uses the same noise
fields (common random numbers: draw ``k`` of every run is the same standard-normal field, :mod:`samlab.noise`),
so a setting's accuracies at one sigma_c form an array ``[seeds, draws]`` whose entry ``(s, k)`` is matched with
the same entry of any other setting. :func:`comparison` hands two such arrays to
:func:`samlab.evidence.paired_difference`: the mean over draws of the matched differences per seed, then a
Student-t interval over seeds (the seed is the replicated unit). Averaging the draws first means pairing by draw
changes the estimate's noise, not its form; PCM repeats (``accs[repeat][time]``) are reseeded per repeat from the
spec's seed, so repeat ``r`` is common to every run as well, and are handled the same way.

**One training seed** (the image populations, smoke scale): no interval over seeds exists. Then the draws are
the replicates (``method`` says "over noise draws; one training seed: the seed spread is not in it"), and a
comparison at sigma_c = 0, where every draw repeats the clean accuracy, has no sampling spread at all and is
reported *unresolved*.

What each claim's rows compare is in :data:`samlab.ledger.CLAIMS` (notebook 05's section); :func:`findings`
builds them all and applies Holm over them (:func:`samlab.ledger.adjust`), as every study's ``findings`` does.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..analog import YEAR
from ..evidence import Comparison, paired_difference
from ..ledger import Finding, adjust, exact_finding, finding
from .robustness import HIGH_SIGMA
from .seeds import Setting

__all__ = ["accuracy_arrays", "pcm_arrays", "comparison", "findings", "frontier_bounds", "crossover",
           "SHARPNESS_AWARE"]

#: The sharpness-aware methods of the population (SAMSON Fig. 2's SAM family).
SHARPNESS_AWARE = ("SAM", "ASAM", "SAMSON_2", "SAMSON_inf")
_ALL = ("SGD", *SHARPNESS_AWARE)


def _grouped(curves: Mapping[Setting, Any]) -> dict[Setting, dict[int | None, Any]]:
    """``{pooled setting: {seed: curve}}``; every setting must hold the same seeds (else nothing is paired)."""
    groups: dict[Setting, dict[int | None, Any]] = {}
    for k, c in curves.items():
        groups.setdefault(k.pooled(), {})[k.seed] = c
    seed_sets = {tuple(sorted(g, key=lambda s: -1 if s is None else s)) for g in groups.values()}
    if len(seed_sets) > 1:
        raise ValueError(f"the settings hold different training seeds {sorted(seed_sets)}: paired comparisons need "
                         "every setting trained with the same seeds")
    return {k: dict(sorted(g.items(), key=lambda kv: -1 if kv[0] is None else kv[0])) for k, g in groups.items()}


def _index(grid: Sequence[float], value: float, name: str, rel: float = 1e-9) -> int:
    for i, x in enumerate(grid):
        if math.isclose(x, value, rel_tol=rel, abs_tol=1e-12):
            return i
    raise ValueError(f"{name}={value!r} is not on the curves' grid {list(grid)}")


def accuracy_arrays(curves: Mapping[Setting, Mapping[str, Any]], sigma: float) -> dict[Setting, np.ndarray]:
    """Per setting (over its seeds), its test accuracies at ``sigma``: an array ``[seeds, draws]`` in seed order.

    ``curves`` are per-run noise curves (:func:`samlab.experiments.robustness.noise_curves`, ``accs[sigma][draw]``)
    keyed by settings that hold their seed; the draws are common random numbers, so entry ``(s, k)`` of two
    settings is a matched pair."""
    out = {}
    for setting, by_seed in _grouped(curves).items():
        rows = [c["accs"][_index(c["sigmas"], sigma, "sigma")] for c in by_seed.values()]
        out[setting] = np.asarray(rows, dtype=float)
    return out


def pcm_arrays(pcm: Mapping[Setting, Mapping[str, Any]], t: float = YEAR) -> dict[Setting, np.ndarray]:
    """Per setting, its PCM accuracies at read time ``t`` (default 1 year): ``[seeds, repeats]`` (repeat ``r`` is
    programmed from the same seed for every run, :mod:`samlab.analog`)."""
    out = {}
    for setting, by_seed in _grouped(pcm).items():
        rows = []
        for c in by_seed.values():
            i = _index(c["times"], t, "t", rel=1e-6)
            rows.append([rep[i] for rep in c["accs"]])
        out[setting] = np.asarray(rows, dtype=float)
    return out


def comparison(a: np.ndarray, b: np.ndarray) -> Comparison | None:
    """``a - b`` for matched ``[seeds, draws]`` arrays: :func:`samlab.evidence.paired_difference` over seeds; with one
    seed, over the draws (said in ``method``); None where nothing varies (one seed and every draw equal)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must be matched [seeds, draws] arrays; got {a.shape} and {b.shape}")
    if a.shape[0] >= 2:
        return paired_difference(a, b)
    d = (a - b)[0]
    if d.size < 2 or np.all(a[0] == a[0, 0]) and np.all(b[0] == b[0, 0]):
        return None
    c = paired_difference(a[0], b[0])
    return replace(c, method="paired t over noise draws; one training seed: the seed spread is not in it")


def _row(key: str, c: Comparison | None, subject: str, scale: str, note: str = "", direction: int = 1) -> Finding:
    if c is None:
        return exact_finding(key, subject=subject, scale=scale, verdict="unresolved", method="not estimable",
                             note="one training seed and no spread over draws: nothing to test" + (
                                 f"; {note}" if note else ""))
    return finding(key, c, subject=subject, scale=scale, note=note, direction=direction)


def frontier_bounds(clean: Mapping[Setting, np.ndarray], noisy: Mapping[Setting, np.ndarray]) -> dict[str, Any]:
    """The Pareto frontier of (clean accuracy, accuracy at high noise) bounded by paired intervals, no ranking.

    A setting A is *off* the frontier when some B is supported-better than A on both axes (both paired
    intervals above 0); ``candidates`` are the settings not shown off it (the frontier lies within them). A is
    *surely on* it when for every other B, A is supported-better than B on at least one axis (no B can dominate
    it). With ``S`` the SAMSON settings, the SAMSON share of the true frontier lies between
    ``|sure & S| / (|sure & S| + |candidates - S|)`` and ``|candidates & S| / (|candidates & S| + |sure - S|)``.
    Each pairwise interval is at 95 % without family-wise adjustment (a descriptive bound, said in the ledger row).
    """
    names = list(clean)
    better: dict[tuple[Setting, Setting], tuple[bool, bool]] = {}
    for a in names:
        for b in names:
            if a != b:
                cs = [comparison(axis[a], axis[b]) for axis in (clean, noisy)]
                better[a, b] = tuple(c is not None and c.verdict == "supported" for c in cs)
    off = {a for a in names if any(all(better[b, a]) for b in names if b != a)}
    candidates = [a for a in names if a not in off]
    sure = [a for a in names if all(any(better[a, b]) for b in names if b != a)]
    samson = lambda s: s.method.startswith("SAMSON")  # noqa: E731
    cs, cn = sum(map(samson, candidates)), sum(not samson(s) for s in candidates)
    ss, sn = sum(map(samson, sure)), sum(not samson(s) for s in sure)
    low = ss / (ss + cn) if ss + cn else 0.0
    high = cs / (cs + sn) if cs + sn else 0.0
    return {"candidates": candidates, "sure": sure, "share_low": low, "share_high": high}


def crossover(diff: np.ndarray, sigmas: Sequence[float], *, resamples: int = 2000, seed: int = 0
              ) -> dict[str, float]:
    """Where a paired difference curve turns positive: ``diff`` is ``[seeds, sigmas]`` (per seed, mean over draws
    of (noise-trained - plain)). The crossing is the sigma_c, linearly interpolated, after which the mean
    difference stays above 0 (0 if it is above 0 everywhere, inf if not at the last sigma_c); its 95 % interval
    is the percentile interval of the same over ``resamples`` resamplings of the seeds (with few seeds a bootstrap
    has few distinct resamples: read it as rough)."""
    diff = np.asarray(diff, dtype=float)
    x = np.asarray(sigmas, dtype=float)
    if diff.ndim != 2 or diff.shape[1] != x.size:
        raise ValueError(f"diff must be [seeds, {x.size} sigmas]; got shape {diff.shape}")

    def cross(d: np.ndarray) -> float:
        if d[-1] <= 0:
            return math.inf
        j = len(d) - 1
        while j > 0 and d[j - 1] > 0:
            j -= 1
        if j == 0:
            return float(x[0])
        return float(x[j - 1] + (x[j] - x[j - 1]) * (-d[j - 1]) / (d[j] - d[j - 1]))

    est = cross(diff.mean(axis=0))
    rng = np.random.default_rng(seed)
    n = diff.shape[0]
    boot = np.array([cross(diff[rng.integers(0, n, n)].mean(axis=0)) for _ in range(resamples)]) if n > 1 else \
        np.array([est])
    lo, hi = np.quantile(boot, 0.025, method="lower"), np.quantile(boot, 0.975, method="higher")
    return {"crossing": est, "low": float(lo), "high": float(hi)}


def findings(curves: Mapping[Setting, Mapping[str, Any]], pcm: Mapping[Setting, Mapping[str, Any]] | None = None,
             *, scale: str, high: float = HIGH_SIGMA, pcm_time: float = YEAR, holm: bool = True) -> list[Finding]:
    """Notebook 05's ledger rows from per-run noise curves and, optionally, per-run PCM curves, Holm-adjusted
    together (``holm=False``: the rows before the adjustment).

    Keys (see :data:`samlab.ledger.CLAIMS`): ``samson_above_sgd``, ``clipping``, ``noise``, ``clean``,
    ``pareto``, ``noise_crossover``, ``pcm``; a row whose settings are not in the population is left out."""
    sig = list(next(iter(curves.values()))["sigmas"])
    at_high, at_zero = accuracy_arrays(curves, high), accuracy_arrays(curves, 0.0)
    S = Setting
    rows: list[Finding] = []
    pct = lambda v: f"{v:.2g}"  # noqa: E731

    def cmp(arrays: Mapping[Setting, np.ndarray], a: Setting, b: Setting) -> Comparison | None:
        return comparison(arrays[a], arrays[b])

    for m in SHARPNESS_AWARE:
        if S(m) in at_high and S("SGD") in at_high:
            rows.append(_row("samson_above_sgd", cmp(at_high, S(m), S("SGD")), f"{m} − SGD at σc = {high:g}", scale))
    for m in _ALL:
        if S(m, "clipping") in at_high and S(m) in at_high:
            rows.append(_row("clipping", cmp(at_high, S(m, "clipping"), S(m)),
                             f"{m} + clipping − {m} at σc = {high:g}", scale))
    for m in _ALL:
        if S(m, "clipping") in at_high and S(m, "noise") in at_high:
            for arrays, where in ((at_high, f"σc = {high:g}"), (at_zero, "σc = 0 (clean)")):
                rows.append(_row("noise", cmp(arrays, S(m, "clipping"), S(m, "noise")),
                                 f"{m} + clipping − {m} + noise at {where}", scale))
    samson = [s for s in at_zero if s.method.startswith("SAMSON")]
    others = [s for s in at_zero if not s.method.startswith("SAMSON")]
    if samson and others:
        # the claim is existential ("at least one SAMSON variant achieves the best test accuracy"): per seed, the
        # best SAMSON setting's clean accuracy minus the best other setting's, paired by seed (a row per SAMSON
        # setting would call the claim contradicted whenever one variant, e.g. a clipped one, is not the best)
        best = lambda group: np.max([at_zero[s].mean(axis=1) for s in group], axis=0)[:, None]  # noqa: E731
        rows.append(_row("clean", comparison(best(samson), best(others)),
                         f"best SAMSON setting − best other setting at σc = 0, per seed ({len(samson)} vs "
                         f"{len(others)} settings)", scale,
                         note="the best of each group chosen within each seed"))
    bounds = frontier_bounds(at_zero, at_high)
    share = (bounds["share_low"], bounds["share_high"])
    verdict = "supported" if share[0] > 0.5 else "contradicted" if share[1] <= 0.5 else "unresolved"
    n_s = lambda group: sum(s.method.startswith("SAMSON") for s in group)  # noqa: E731
    rows.append(exact_finding(
        "pareto", subject=f"SAMSON share of the frontier of (σc = 0, σc = {high:g})", scale=scale, verdict=verdict,
        method="pairwise paired t (95 %, unadjusted) on both axes; no single interval",
        note=f"{len(bounds['candidates'])} of {len(at_zero)} settings not shown off the frontier "
             f"({n_s(bounds['candidates'])} SAMSON), {len(bounds['sure'])} surely on it ({n_s(bounds['sure'])} "
             f"SAMSON): SAMSON share between {pct(share[0])} and {pct(share[1])} (claim: above 0.5)"))
    noisy_sig = [s for s in sig if s > 0]
    for m in SHARPNESS_AWARE:
        if S(m, "noise") not in at_high or S(m) not in at_high or not noisy_sig:
            continue
        per = {s: accuracy_arrays({k: v for k, v in curves.items() if k.pooled() in (S(m), S(m, "noise"))}, s)
               for s in sig}
        diff = np.stack([(per[s][S(m, "noise")] - per[s][S(m)]).mean(axis=1) for s in sig], axis=1)
        cross = crossover(diff, sig)
        supported = [s for s in noisy_sig if (c := comparison(per[s][S(m, "noise")], per[s][S(m)])) is not None
                     and c.verdict == "supported"]
        note = (f"crossing σc* = {cross['crossing']:.3g} [{cross['low']:.3g}, {cross['high']:.3g}] (bootstrap over "
                f"seeds); smallest σc with the noise-trained run ahead (unadjusted): "
                f"{supported[0] if supported else 'none'}")
        low = noisy_sig[0]
        rows.append(_row("noise_crossover", comparison(per[low][S(m, "noise")], per[low][S(m)]),
                         f"{m} + noise − {m} at σc = {low:g} (claim: below 0)", scale, note=note, direction=-1))
        rows.append(_row("noise_crossover", comparison(per[high][S(m, "noise")], per[high][S(m)]),
                         f"{m} + noise − {m} at σc = {high:g} (claim: above 0)", scale, note=note))
    if pcm:
        at = pcm_arrays(pcm, pcm_time)
        base = S("SGD", "clipping")
        for m in SHARPNESS_AWARE:
            if S(m, "clipping") in at and base in at:
                rows.append(_row("pcm", comparison(at[S(m, "clipping")], at[base]),
                                 f"{m} + clipping − SGD + clipping, PCM at 1 year", scale))
    return adjust(rows) if holm else rows
