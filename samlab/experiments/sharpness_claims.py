"""Notebook 06's claims as ledger findings: SAMSON sec. 6.3 (sharpness correlates with robustness within each
training configuration) and appendix C (SAM's and ASAM's m-sharpness correlate better than Keskar et al.'s).

**The evidence.** Each claim is a Spearman correlation (or a difference of two) within one training configuration
(plain, + additive noise, + weight clipping), with a percentile bootstrap interval wrapped in a
:class:`samlab.evidence.Comparison` and turned into a :class:`samlab.ledger.Finding`; Holm over all of the
notebook's findings (:func:`samlab.ledger.adjust`). The bootstrap p-value is two-sided,
``2 min(#{b <= 0} + 1, #{b >= 0} + 1) / (B + 1)`` (capped at 1; the ``+ 1`` keeps it above 0 with ``B``
resamples; so with Holm over ``k`` findings nothing can be resolved unless ``B > 40 k``: 2000 resamples serve
the notebook's 15). For appendix C the two measures' correlations are computed on the **same** resamples of runs and their
difference taken resample by resample (a paired bootstrap: the runs, hence their robustness gaps, are shared by both
measures, and what is common to both cancels in the difference).

**What is resampled** (``unit``). Default ``"run"``: the runs of a configuration with replacement. A training seed's
runs share their data order and initialisation, so they are not quite independent; resampling seeds as clusters
(``unit="seed"``) respects that, but with 3-5 seeds a configuration has only 10-126 distinct cluster resamples,
and a percentile interval from so few is not to be trusted (:mod:`samlab.evidence` measured the like for a
bootstrap over 3 seeds). Methods are the design (every method at every seed), not a sample; the seed is what
varies. The notebook prints both intervals side by side (:func:`unit_check`): where they agree the choice does not
matter; where the cluster interval is much wider the run interval is too narrow and its verdict should be read so.

**Seeds to resolve.** For an unresolved finding, the training seeds per setting at which the interval's half-width
would shrink (as ``1 / sqrt(seeds)``) to ``|estimate| / (z_0.975 + z_0.8)``: 80 % power for the observed effect, a
rough guide (a correlation's sampling distribution is not normal near +-1); the rule is
:func:`samlab.evidence.seeds_to_resolve`, shared with the paired-t rows.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from .. import ledger
from ..checks import check_choice, check_int
from .. import evidence
from ..evidence import Comparison
from .correlation import spearman_resamples
from .sharpness_robustness import MEASURES

__all__ = ["TRAININGS", "CORRELATION_MEASURES", "APPENDIX_C", "resample_indices", "bootstrap_comparison",
           "correlation_comparison", "difference_comparison", "findings", "unit_check", "pooled_reading",
           "share_lines", "curvature_precision", "gap_shift_lines"]

TRAININGS = ("plain", "noise", "clipping")
#: Measures tested for the within-configuration correlation: SAMSON's (Figs. 3-4) and samlab's noise curvature.
CORRELATION_MEASURES = ("samson_2", "samson_inf", "curvature")
#: Appendix C's pairs: each measure minus Keskar's.
APPENDIX_C = (("sam", "keskar"), ("asam", "keskar"))
UNITS = ("run", "seed")


def resample_indices(seeds: Sequence[Any], n_boot: int, rng: np.random.Generator, unit: str = "run") -> np.ndarray:
    """``(n_boot, n)`` indices into ``n`` runs: runs with replacement (``unit="run"``), or whole seeds with
    replacement (``"seed"``; every seed must hold the same number of runs, so every resample has ``n`` rows)."""
    unit = check_choice("unit", unit, UNITS)
    n = len(seeds)
    if unit == "run":
        return rng.integers(0, n, (n_boot, n))
    groups: dict[Any, list[int]] = {}
    for i, s in enumerate(seeds):
        groups.setdefault(s, []).append(i)
    sizes = {len(g) for g in groups.values()}
    if len(sizes) != 1:
        raise ValueError(f"unit='seed' needs the same number of runs per seed; got sizes {sorted(sizes)}")
    clusters = np.array(list(groups.values()))
    pick = rng.integers(0, len(clusters), (n_boot, len(clusters)))
    return clusters[pick].reshape(n_boot, -1)


def bootstrap_comparison(estimate: float, boots: np.ndarray, *, n: int, paired: bool, method: str,
                         level: float = 0.95) -> Comparison:
    """A :class:`~samlab.evidence.Comparison` from a point estimate and its bootstrap replicates: percentile
    interval at ``level`` and the two-sided bootstrap p-value of the module docstring (NaN replicates, from
    resamples with a constant coordinate, are dropped; fewer than 10 left: NaN interval, p = 1)."""
    b = np.asarray(boots, dtype=float)
    b = b[np.isfinite(b)]
    if len(b) < 10 or not math.isfinite(estimate):
        return Comparison(float(estimate), math.nan, math.nan, 1.0, math.nan, n, paired, method, level)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(b, [alpha, 1 - alpha])
    p = min(1.0, 2 * min((np.sum(b <= 0) + 1), (np.sum(b >= 0) + 1)) / (len(b) + 1))
    return Comparison(float(estimate), float(lo), float(hi), float(p), math.nan, n, paired, method, level)


def _xy(rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r["sharpness"] for r in rows], dtype=float), np.array([r["gap"] for r in rows], dtype=float))


def _seeds(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [r["setting"].seed for r in rows]


def _method(kind: str, unit: str, n_boot: int) -> str:
    what = "runs" if unit == "run" else "seeds as clusters"
    return f"{kind}percentile bootstrap over {what} ({n_boot} resamples), Spearman ρ"


def correlation_comparison(rows: Sequence[Mapping[str, Any]], *, n_boot: int = 2000, seed: int = 0,
                           unit: str = "run") -> Comparison:
    """Spearman's rho of sharpness with the robustness gap over ``rows`` (one configuration's runs) with its
    bootstrap interval (module docstring)."""
    n_boot = check_int("n_boot", n_boot, low=1)
    if len(rows) < 3:
        raise ValueError(f"{len(rows)} runs: a correlation needs at least 3")
    x, y = _xy(rows)
    idx = resample_indices(_seeds(rows), n_boot, np.random.default_rng(seed), unit)
    est = float(spearman_resamples(x[None], y[None])[0])
    return bootstrap_comparison(est, spearman_resamples(x[idx], y[idx]), n=len(rows), paired=False,
                                method=_method("", unit, n_boot))


def difference_comparison(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], *,
                          n_boot: int = 2000, seed: int = 0, unit: str = "run") -> Comparison:
    """Spearman's rho of measure a minus that of measure b, both with the same robustness gaps, on the same
    resamples of runs (a paired bootstrap). ``rows_a``/``rows_b``: the same runs (matched by ``setting``)."""
    n_boot = check_int("n_boot", n_boot, low=1)
    b_by = {r["setting"]: r for r in rows_b}
    common = [r for r in rows_a if r["setting"] in b_by]
    if len(common) < 3:
        raise ValueError(f"{len(common)} runs hold both measures: a correlation needs at least 3")
    xa, y = _xy(common)
    xb, _ = _xy([b_by[r["setting"]] for r in common])
    idx = resample_indices(_seeds(common), n_boot, np.random.default_rng(seed), unit)
    est = float(spearman_resamples(xa[None], y[None])[0] - spearman_resamples(xb[None], y[None])[0])
    boots = spearman_resamples(xa[idx], y[idx]) - spearman_resamples(xb[idx], y[idx])
    return bootstrap_comparison(est, boots, n=len(common), paired=True, method=_method("paired ", unit, n_boot))


def _seeds_needed(c: Comparison, seeds: int) -> int | None:
    """Seeds per setting that resolve the observed difference (:func:`samlab.evidence.seeds_to_resolve`, the
    ``1 / sqrt(seeds)`` rule of a bootstrap interval)."""
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return None
    return evidence.seeds_to_resolve(c.difference, c.low, c.high, n=seeds, paired_t=False)


def findings(rows: Mapping[str, Sequence[Mapping[str, Any]]], scale: str, *, n_boot: int = 2000, seed: int = 0,
             unit: str = "run", gap: str = "AdaBS-calibrated gap") -> list[ledger.Finding]:
    """Notebook 06's ledger rows, Holm-adjusted together: per configuration, the correlation of each measure of
    :data:`CORRELATION_MEASURES` (claim ``correlation``) and the paired differences of :data:`APPENDIX_C` (claim
    ``appendix_c``). ``rows``: measure -> :func:`~samlab.experiments.sharpness_robustness.metric_rows`."""
    out: list[tuple[ledger.Finding, Comparison, int]] = []

    def group(measure: str, training: str) -> list[Mapping[str, Any]]:
        return [r for r in rows.get(measure, ()) if r["training"] == training]

    for m, training in [(m, t) for m in CORRELATION_MEASURES for t in TRAININGS]:
        g = group(m, training)
        if len(g) < 3:
            continue
        c = correlation_comparison(g, n_boot=n_boot, seed=seed, unit=unit)
        note = "" if m != "curvature" else "samlab's measure, not the paper's"
        f = ledger.finding("correlation", c, subject=f"{MEASURES[m]['label']} vs {gap}, {training}",
                           scale=scale, factor=1.0, units="ρ", note=note)
        out.append((f, c, len({r["setting"].seed for r in g})))
    for (a, b), training in [(pair, t) for pair in APPENDIX_C for t in TRAININGS]:
        ga, gb = group(a, training), group(b, training)
        if len(ga) < 3 or len(gb) < 3:
            continue
        c = difference_comparison(ga, gb, n_boot=n_boot, seed=seed, unit=unit)
        f = ledger.finding("appendix_c", c, subject=f"ρ({MEASURES[a]['label']}) − ρ(Keskar's), {training}",
                           scale=scale, factor=1.0, units="ρ")
        out.append((f, c, len({r["setting"].seed for r in ga})))
    adjusted = ledger.adjust([f for f, _, _ in out])
    return [replace(f, seeds_needed=_seeds_needed(c, seeds) if f.verdict == "unresolved" else None)
            for f, (_, c, seeds) in zip(adjusted, out)]


def unit_check(rows: Mapping[str, Sequence[Mapping[str, Any]]], *, n_boot: int = 2000, seed: int = 0) -> str:
    """Per tested correlation, the interval from resampling runs beside the one from resampling seeds."""
    lines = []
    for training in TRAININGS:
        for m in CORRELATION_MEASURES:
            g = [r for r in rows.get(m, ()) if r["training"] == training]
            if len(g) < 3 or len({r["setting"].seed for r in g}) < 2:
                continue
            a = correlation_comparison(g, n_boot=n_boot, seed=seed, unit="run")
            b = correlation_comparison(g, n_boot=n_boot, seed=seed, unit="seed")
            lines.append(f"{MEASURES[m]['label']}, {training}: runs [{a.low:+.2f}, {a.high:+.2f}], "
                         f"seeds [{b.low:+.2f}, {b.high:+.2f}]")
    return "\n".join(lines)


def pooled_reading(rows: Mapping[str, Sequence[Mapping[str, Any]]], *, n_boot: int = 2000, seed: int = 0) -> str:
    """SAM's, ASAM's and Keskar's correlations over all configurations pooled, and each difference to Keskar's
    with its paired bootstrap interval, saying plainly where the pooled reading contradicts appendix C (pooling
    mixes configurations whose sharpness and robustness levels differ: a confounded comparison, shown because
    it is the one the paper's figures invite, not as evidence)."""
    lines = []
    for m in ("sam", "asam", "keskar"):
        if len(rows.get(m, ())) >= 3:
            c = correlation_comparison(rows[m], n_boot=n_boot, seed=seed)
            lines.append(f"pooled ρ({MEASURES[m]['label']}) = {c.difference:+.2f} [{c.low:+.2f}, {c.high:+.2f}]")
    for a, b in APPENDIX_C:
        if len(rows.get(a, ())) >= 3 and len(rows.get(b, ())) >= 3:
            c = difference_comparison(rows[a], rows[b], n_boot=n_boot, seed=seed)
            says = {"supported": "agrees with appendix C", "contradicted": "CONTRADICTS appendix C (Keskar's "
                    "correlates better)", "unresolved": "resolves nothing"}[c.verdict]
            lines.append(f"pooled ρ({MEASURES[a]['label']}) − ρ(Keskar's) = {c.difference:+.2f} "
                         f"[{c.low:+.2f}, {c.high:+.2f}]: the pooled reading {says}")
    for m in ("sam", "asam"):
        if len(rows.get(m, ())) >= 3:
            c = correlation_comparison(rows[m], n_boot=n_boot, seed=seed)
            if c.verdict == "contradicted":
                lines.append(f"pooled ρ({MEASURES[m]['label']}) is NEGATIVE (interval below 0): sharper runs are "
                             "the more robust ones when configurations are pooled, the opposite of the paper's "
                             "reading")
    return "\n".join(lines)


def _by_training(values: Mapping[Any, float]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for k, v in values.items():
        out.setdefault(k.training, []).append(float(v))
    return out


def share_lines(shares: Mapping[Any, Mapping[str, Any]]) -> str:
    """Per configuration, the share of ASAM's ``||eps||^2`` on BatchNorm and bias tensors (mean and range)."""
    lines = []
    for t, v in _by_training({k: s["other_share"] for k, s in shares.items()}).items():
        lines.append(f"{t}: {100 * np.mean(v):.1f} % on BatchNorm and biases (runs {100 * min(v):.1f}-"
                     f"{100 * max(v):.1f} %, n = {len(v)})")
    return "\n".join(lines)


def curvature_precision(values: Mapping[Any, Mapping[str, Any]]) -> str:
    """The Hutchinson standard error relative to the estimate (median and largest over runs), and the spread of
    the estimates over runs (relative std), so the noise of the estimator can be set against the signal."""
    rel = [v["trace_se"] / abs(v["trace"]) for v in values.values() if v["trace"]]
    traces = [v["trace"] for v in values.values()]
    if not rel:
        return "no noise curvature computed"
    first = next(iter(values.values()))
    return (f"noise curvature: {first['probes']} probes on {first['samples']} samples; Hutchinson standard error "
            f"{100 * float(np.median(rel)):.1f} % of the estimate (median over {len(rel)} runs, largest "
            f"{100 * max(rel):.1f} %); the estimates vary by {100 * np.std(traces) / abs(np.mean(traces)):.0f} % "
            "(std / mean) across runs")


def gap_shift_lines(curves: Mapping[Any, Mapping[str, Any]], clean: Mapping[Any, Mapping[str, Any]]) -> str:
    """Per configuration, what AdaBS alone does to the clean network: calibrated minus uncalibrated clean accuracy
    (points; mean and range), the amount by which the two definitions of the gap differ."""
    shift = {k: 100 * (clean[k]["accuracy"] - clean[k]["accuracy_training_stats"]) for k in clean if k in curves}
    lines = []
    for t, v in _by_training(shift).items():
        lines.append(f"{t}: AdaBS on the clean network moves its accuracy by {np.mean(v):+.2f} points "
                     f"(runs {min(v):+.2f} to {max(v):+.2f}, n = {len(v)})")
    return "\n".join(lines)
