"""Notebook 03's explorer: test error against test variance for one training variance (ASAM report Fig. 5).

Settings already trained (in memory or in the store) redraw at once; new ones wait for the Run button, which
trains them with a progress bar in the explorer's ``progress`` output and then caches them. Every frame of a
stored setting is rendered once and kept (stored runs never change); those of the starting rho, at its p and at
p = inf, for every training variance, are rendered when the explorer is built (issue 19: about 0.2 s each, so a
move among them shows a kept frame instead of drawing for 0.2-0.3 s).
"""
from __future__ import annotations

import math
import time
from typing import Any

from ..data.variance2d import variance2d_bayes_error
from ..experiments.variance_generalization import TRAIN_VARIANCES, compare_methods
from ..plots import plot_generalization_curves
from .controls import choice_selector, p_selector, rho_slider
from .core import Explorer, interactive_figure, render_outputs

__all__ = ["variance_explorer"]


def variance_explorer(study: Any, *, rho: float = 0.5, p: float = 2.0, train_variance: float = 15.0,
                      band: str = "min-max") -> tuple[Explorer, Any]:
    """rho, p and the training variance for a :class:`~samlab.experiments.variance_generalization.VarianceStudy`."""
    measured: list[float] = []   # seconds per run, measured on this explorer's Run clicks (training + storing)
    frames: dict[tuple, tuple[dict, ...]] = {}   # (rho, p, training variance) -> rendered figure and table
    bayes = [variance2d_bayes_error(v) for v in study.test_variances]

    def draw(rho: float, p: float, train_variance: float):
        key = (round(float(rho), 9), float(p), float(train_variance))
        if key in frames:                       # stored runs never change: the frame drawn before
            return list(frames[key])
        todo = len(study.missing(rho=rho, p=p, train_variances=[train_variance]))
        start = time.perf_counter()
        curves = study.curves(rho=rho, p=p, train_variances=[train_variance], verbose=False)
        if todo:
            measured.append((time.perf_counter() - start) / todo)
        fig = plot_generalization_curves(study.test_variances, curves, labels=study.labels(p),
                                         colors=study.colors(p), band=band, reference=bayes)
        frames[key] = render_outputs([fig, compare_methods(curves[float(train_variance)], study.test_variances,
                                                           labels=study.labels(p, plain=True))], min_width_px=560)
        out = list(frames[key])
        if todo:
            out.insert(0, f"trained {todo} runs in {todo * measured[-1]:.1f} s; they are now cached")
        return out

    def missing(rho: float, p: float, train_variance: float) -> bool:
        return bool(study.missing(rho=rho, p=p, train_variances=[train_variance]))

    def describe(rho: float, p: float, train_variance: float) -> str:
        n = len(study.missing(rho=rho, p=p, train_variances=[train_variance]))
        cost = (f"about {n * measured[-1]:.0f} s, judging by the last Run" if measured else
                "possibly minutes each at paper scale" if getattr(study, "scale", "") == "paper" else "a few seconds")
        return (f"ρ = {rho:g}, p = {p:g}, trained on σ² = {train_variance:g}: {n} runs are not computed yet "
                f"({cost}). Click Run to train them; they are then cached.")

    controls = {"rho": rho_slider("asam", value=rho, max=2.0, step=0.05), "p": p_selector(p),
                "train_variance": choice_selector([(f"{v:g}", v) for v in TRAIN_VARIANCES], float(train_variance),
                                                  description="training σ²")}
    for pp in dict.fromkeys((float(p), math.inf)):   # the stored frames a first move reaches, rendered now
        for tv in TRAIN_VARIANCES:
            if not missing(rho, pp, tv):
                draw(rho, pp, tv)
    return interactive_figure(draw, controls, needs_run=missing, describe_run=describe, min_width_px=560)
