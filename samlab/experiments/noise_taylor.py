"""Notebook 05's check of the second-order prediction of the loss rise under conductance noise against Monte Carlo.

:mod:`samlab.sharpness.noise_curvature` predicts the expected test-loss rise under multiplicative weight noise
(SAMSON eq. 7-8) as ``E[L(W o delta)] - L(W) ~ (sigma_c^2 / 2) tr(D_W H D_W)``. Here that prediction (Hutchinson
probes) is set beside the measured mean loss rise of a noise curve (:func:`samlab.noise.noise_curve` with
``adabs=False``: the Taylor expansion is about fixed BatchNorm statistics, so the measurement keeps the training
statistics and never re-estimates them) on the same test data, per run and sigma_c, both stored in the run's
folder (:func:`samlab.train.load.measure_run`).

The measured rise is paired draw by draw (``L(W o delta_k) - L(W)``, the clean loss is exact) and its standard
error is over draws; the prediction's standard error is over probes. Their ratio says where the expansion holds
(within :data:`TOLERANCE`, a factor) and where it breaks: at small sigma_c in a smooth network it must hold; a
ReLU network's kinks and the growth of higher-order terms make it fail as sigma_c grows.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..checks import check_number, check_scale
from ..methods import method_key
from ..noise import NoiseCurveSpec
from ..runs import RunStore
from ..sharpness.noise_curvature import NoiseCurvatureSpec
from ..train.load import measure_run
from .seeds import Setting

__all__ = ["TOLERANCE", "TAYLOR_RUNS", "taylor_specs", "loss_rise", "taylor_check", "taylor_rows", "where_it_holds",
           "taylor_series", "describe"]

#: The prediction "holds" at a sigma_c where measured / predicted lies within [1 / TOLERANCE, TOLERANCE].
TOLERANCE = 1.5
#: The runs compared: SGD and SAMSON_inf, plain, training seed 0 (one smooth-ish baseline, one sharpness-aware).
TAYLOR_RUNS = (Setting("SGD", "plain", 0), Setting("SAMSON_inf", "plain", 0))


def taylor_specs(scale: str = "quick", sigmas: Sequence[float] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
                 ) -> tuple[NoiseCurvatureSpec, NoiseCurveSpec]:
    """(curvature spec, Monte-Carlo spec) at ``scale``: probes 32 (smoke 4), draws 20 (smoke 3), no AdaBS, both on
    every test sample; a sigma_c grid from 0.01 to 0.4 (log-spaced enough for a log-log figure)."""
    check_scale(scale)
    sig = tuple(float(check_number("sigma", s, low=0.0, low_open=True)) for s in sigmas)
    small = scale == "smoke"
    curvature = NoiseCurvatureSpec(probes=4 if small else 32, seed=0, sigmas=sig, split="test",
                                   max_samples=None, batch_size=500)
    mc = NoiseCurveSpec(sigmas=(0.0, *sig), draws=3 if small else 20, adabs=False, seed=0)
    return curvature, mc


def loss_rise(curve: Mapping[str, Any]) -> dict[str, list[float]]:
    """The measured mean loss rise per sigma_c > 0 of a noise curve (with sigma_c = 0, its clean loss): the mean over
    draws of ``loss_k - clean`` and its standard error over draws."""
    sig = list(curve["sigmas"])
    if 0.0 not in sig:
        raise ValueError(f"the curve has no sigma_c = 0 (clean loss) among {sig}")
    clean = curve["losses"][sig.index(0.0)][0]
    out: dict[str, list[float]] = {"sigmas": [], "rise": [], "rise_se": []}
    for s, losses in zip(sig, curve["losses"]):
        if s == 0.0:
            continue
        d = [v - clean for v in losses]
        m = math.fsum(d) / len(d)
        se = math.sqrt(math.fsum((v - m) ** 2 for v in d) / (len(d) - 1) / len(d)) if len(d) > 1 else math.nan
        out["sigmas"].append(s)
        out["rise"].append(m)
        out["rise_se"].append(se)
    return out


def taylor_check(configs: Mapping[Setting, Any], scale: str = "quick", *, runs: Sequence[Setting] = TAYLOR_RUNS,
                 store: RunStore | None = None, progress: bool = False) -> dict[Setting, dict[str, Any]]:
    """Per run of ``runs`` (those in ``configs``; at smoke scale, seed None settings are matched too): predicted and
    measured mean loss rise over the sigma_c grid of :func:`taylor_specs`, from the store or computed and stored."""
    curvature_spec, mc_spec = taylor_specs(scale)
    out = {}
    for k in runs:
        cfg = configs.get(k, configs.get(k.pooled()))
        if cfg is None:
            continue
        curv = measure_run(cfg, curvature_spec, store=store, progress=progress)
        measured = loss_rise(measure_run(cfg, mc_spec, store=store, progress=progress))
        out[k] = {"sigmas": measured["sigmas"], "measured": measured["rise"], "measured_se": measured["rise_se"],
                  "predicted": list(curv["predicted"]["rise"]), "predicted_se": list(curv["predicted"]["rise_se"]),
                  "trace": curv["trace"], "probes": curv["probes"], "draws": mc_spec.draws,
                  "samples": curv["samples"]}
    return out


def taylor_rows(check: Mapping[Setting, Mapping[str, Any]], *, tolerance: float = TOLERANCE) -> list[dict[str, Any]]:
    """Per run and sigma_c: measured and predicted rise, their ratio and whether it lies within ``tolerance``."""
    rows = []
    for k, c in check.items():
        for s, m, p in zip(c["sigmas"], c["measured"], c["predicted"]):
            ratio = m / p if p > 0 else math.nan
            rows.append({"run": k.label, "sigma": s, "measured": m, "predicted": p, "ratio": ratio,
                         "holds": bool(p > 0 and 1 / tolerance <= ratio <= tolerance)})
    return rows


def where_it_holds(check: Mapping[Setting, Mapping[str, Any]], *, tolerance: float = TOLERANCE) -> list[str]:
    """One line per run: the sigma_c where measured / predicted lies within ``tolerance`` and where it does not."""
    lines = []
    for k in check:
        rows = [r for r in taylor_rows({k: check[k]}, tolerance=tolerance)]
        ok = [f"{r['sigma']:g}" for r in rows if r["holds"]]
        bad = [f"{r['sigma']:g} (x{r['ratio']:.2g})" for r in rows if not r["holds"]]
        lines.append(f"{k.label}: within a factor {tolerance:g} at σc = {', '.join(ok) or 'none'}; "
                     f"outside at {', '.join(bad) or 'none'} (measured / predicted)")
    return lines


def taylor_series(check: Mapping[Setting, Mapping[str, Any]], configs: Mapping[Setting, Any]) -> list[dict[str, Any]]:
    """Plain data for :func:`samlab.plots.robustness.plot_taylor`."""
    return [{"label": k.label, "key": method_key(configs.get(k, configs.get(k.pooled()))), **dict(c)}
            for k, c in check.items()]


def describe(check: Mapping[Setting, Mapping[str, Any]]) -> str:
    """``"SGD · seed 0, SAMSON_inf · seed 0: 32 Hutchinson probes, 20 noise draws, 1000 test samples, no AdaBS"``."""
    c = next(iter(check.values()))
    return (f"{', '.join(k.label for k in check)}: {c['probes']} Hutchinson probes, {c['draws']} noise draws, "
            f"{c['samples']} test samples, no AdaBS")
