"""Correlation statistics for small populations of runs (notebook 06): Spearman's rho, Kendall's tau-b and
Pearson's r with scipy's p-values and seeded percentile-bootstrap intervals, and a table per group.

The bootstrap resamples pairs (runs) with replacement and computes the three statistics of all resamples at once
(Spearman as Pearson on average ranks, Kendall's tau-b from the signs of all pairs: scipy's definitions,
vectorised; tested resample by resample against scipy). Fewer than 3 pairs, or a constant coordinate, give NaN
and a note, never a number that means nothing.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

from ..checks import check_int, check_number

__all__ = ["correlation", "correlation_table", "spearman_resamples"]

_STATS = ("spearman", "kendall", "pearson")


def _stats(x: Any, y: Any) -> dict[str, tuple[float, float]]:
    import numpy as np
    from scipy import stats

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return {k: (math.nan, math.nan) for k in _STATS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, t, r = stats.spearmanr(x, y), stats.kendalltau(x, y), stats.pearsonr(x, y)
    return {"spearman": (float(s[0]), float(s[1])), "kendall": (float(t[0]), float(t[1])),
            "pearson": (float(r[0]), float(r[1]))}


def _pearson_rows(a: Any, b: Any) -> Any:
    """Pearson's r of each row pair of ``a``, ``b`` (NaN for a constant row)."""
    import numpy as np

    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def spearman_resamples(xs: Any, ys: Any) -> Any:
    """Spearman's rho of each row pair of ``xs``, ``ys`` (2-D, one resample per row; average ranks for ties, as
    scipy): Pearson's r of the rows' ranks, NaN for a row with a constant coordinate."""
    import numpy as np
    from scipy.stats import rankdata

    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs.ndim != 2 or xs.shape != ys.shape:
        raise ValueError(f"xs and ys must be 2-D of the same shape; got {xs.shape} and {ys.shape}")
    return _pearson_rows(rankdata(xs, axis=1), rankdata(ys, axis=1))


def _bootstrap(xs: Any, ys: Any) -> dict[str, Any]:
    """The three statistics of every resample (rows of ``xs``, ``ys``) at once: Pearson on values, Spearman as
    Pearson on average ranks, Kendall's tau-b from the signs of all pairs (scipy's definitions, vectorised)."""
    import numpy as np
    from scipy.stats import rankdata

    # each pair once (i < j): the full n x n sums are twice these, a factor that cancels in tau-b
    i, j = np.triu_indices(xs.shape[1], 1)
    dx, dy = np.sign(xs[:, i] - xs[:, j]), np.sign(ys[:, i] - ys[:, j])
    den = np.sqrt(np.abs(dx).sum(axis=1) * np.abs(dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(den > 0, (dx * dy).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    return {"pearson": _pearson_rows(xs, ys),
            "spearman": _pearson_rows(rankdata(xs, axis=1), rankdata(ys, axis=1)), "kendall": tau}


def correlation(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                level: float = 0.95) -> dict[str, Any]:
    """Spearman's rho, Kendall's tau and Pearson's r of ``(x, y)``, their p-values (scipy.stats, two-sided) and
    percentile bootstrap intervals at ``level`` (``n_boot`` resamples of the pairs, ``numpy`` generator seeded
    with ``seed``; resamples with a constant coordinate are skipped). Fewer than 3 pairs, or a constant
    coordinate: NaN everywhere and a ``note`` saying why."""
    import numpy as np

    n_boot = check_int("n_boot", n_boot, low=1)
    level = check_number("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length; got shapes {x.shape} and {y.shape}")
    n = len(x)
    out: dict[str, Any] = {"n": n, "note": ""}
    nan = {k: (math.nan, math.nan) for k in _STATS}
    if n < 3:
        out["note"] = f"n = {n} < 3 runs: no correlation"
        point = nan
    else:
        point = _stats(x, y)
        if math.isnan(point["spearman"][0]):
            out["note"] = "a coordinate is constant: no correlation"
    boots = {k: np.empty(0) for k in _STATS}
    if not out["note"]:
        idx = np.random.default_rng(seed).integers(0, n, (n_boot, n))
        boots = _bootstrap(x[idx], y[idx])
    alpha = (1 - level) / 2
    for k in _STATS:
        out[k], out[f"{k}_p"] = point[k]
        vals = boots[k][np.isfinite(boots[k])]
        lo, hi = np.quantile(vals, [alpha, 1 - alpha]) if len(vals) >= 10 else (math.nan, math.nan)
        out[f"{k}_ci"] = (float(lo), float(hi))
    out["n_boot_used"] = int(np.isfinite(boots["spearman"]).sum())
    return out


def correlation_table(rows: Sequence[Mapping[str, Any]], *, x: str = "sharpness", y: str = "gap",
                      by: str = "training", order: Sequence[str] = ("plain", "noise", "clipping"),
                      n_boot: int = 2000, seed: int = 0, level: float = 0.95, cache: dict | None = None) -> Any:
    """:func:`correlation` of ``x`` against ``y`` of ``rows`` per group (``by``, in ``order``; empty groups left
    out) and over all rows (``"all"``): n, each statistic with its p-value and interval, and a note.

    ``cache``: a dict the caller keeps; a group whose pairs (and ``n_boot``, ``seed``, ``level``) were seen before
    takes its statistics from there (an explorer's table for other configurations recomputes only what changed)."""
    import pandas as pd  # optional dependency (notebooks extra)

    groups = {v: [r for r in rows if r[by] == v] for v in order}
    groups = {k: g for k, g in groups.items() if g}
    groups["all"] = list(rows)
    table = {}
    for name, g in groups.items():
        xs, ys = tuple(float(r[x]) for r in g), tuple(float(r[y]) for r in g)
        key = (xs, ys, n_boot, seed, level)
        c = cache.get(key) if cache is not None else None
        if c is None:
            c = correlation(xs, ys, n_boot=n_boot, seed=seed, level=level)
            if cache is not None:
                cache[key] = c
        row = {"n": c["n"]}
        for k, sym in (("spearman", "Spearman ρ"), ("kendall", "Kendall τ"), ("pearson", "Pearson r")):
            row[sym] = c[k]
            row[f"{sym} p"] = c[f"{k}_p"]
            row[f"{sym} CI low"], row[f"{sym} CI high"] = c[f"{k}_ci"]
        row["note"] = c["note"]
        table[name] = row
    df = pd.DataFrame.from_dict(table, orient="index")
    df.index.name = "configuration"
    return df
