"""Notebook 06's explorer: one sharpness measure against the robustness gap, with its correlation table.

Controls: the measure (the paper's five and samlab's two), rho and p of the m-sharpness neighbourhood, m, and which training
configurations to include. A setting whose values are all stored answers at once; one that is not shows what
a Run click would compute (which measure, on how many runs) and waits for the button. Noise curves are never
computed here: the runs without a stored curve are left out and named.
"""
from __future__ import annotations

from typing import Any, Mapping

import ipywidgets as W

from ..experiments import sharpness_robustness as study
from ..experiments.correlation import correlation_table
from ..experiments.seeds import TRAININGS, Setting
from ..plots import plot_sharpness_robustness
from .controls import choice_selector, p_selector, rho_slider
from .core import Explorer, interactive_figure

__all__ = ["sharpness_explorer", "M_CHOICES"]

#: m offered by the explorer (the paper uses 128 on CIFAR).
M_CHOICES = (16, 32, 64, 128, 256)


def sharpness_explorer(configs: Mapping[Setting, Any], curves: Mapping[Setting, Mapping], scale: str = "quick", *,
                       store: Any = None, title: str = "", n_boot: int = 1000, seed: int = 0,
                       dpi: int = 80, clean: Mapping[Setting, Mapping] | None = None) -> tuple[Explorer, Any]:
    """Choose a measure, its neighbourhood (rho, p, m) and the configurations; draw the scatter and the table.

    ``configs``: setting -> finished training config; ``curves``: setting -> stored noise curve (runs without one are
    left out). Bootstrap intervals use ``n_boot`` resamples seeded with ``seed``. ``clean``: setting -> AdaBS-calibrated
    clean accuracy (:func:`samlab.experiments.sharpness_robustness.calibrated_cleans`): the gap starts from it, as
    in notebook 06's figure (None: from the uncalibrated accuracy at sigma_c = 0).
    """
    if not configs:
        raise ValueError("configs is empty: no run to measure")
    named = {k: c for k, c in configs.items() if k in curves}
    if not named:
        raise ValueError("no run of configs has a stored noise curve: compute them first (the cells above)")
    n_train = min(c.max_train_samples or 10 ** 9 for c in named.values())
    default_m = study.metric_sizes(scale)["m"]
    m_options = sorted({m for m in (*M_CHOICES, default_m) if m <= n_train})
    trainings = [t for t in TRAININGS if any(k.training == t for k in named)]
    controls = {
        "measure": choice_selector([(f"{i['label']} ({i['figure']})", k) for k, i in study.MEASURES.items()],
                                   "samson_2", description="measure"),
        "rho": rho_slider("samson", value=0.5, max=2.0, step=0.05),
        "p": p_selector(2.0),
        "m": choice_selector(m_options, default_m, description="m"),
        "include": W.SelectMultiple(options=trainings, value=tuple(trainings), description="configurations",
                                    rows=len(trainings), style={"description_width": "initial"}),
    }
    loaded: dict = {}
    memo: dict = {}

    def follow_measure(measure: str) -> None:
        info = study.MEASURES[measure]
        m_kind = info["kind"] == "m"
        controls["rho"].disabled = controls["m"].disabled = not m_kind
        controls["p"].disabled = not (m_kind and info["method"] == "samson")
        if m_kind:
            controls["rho"].value = info["rho"]
            controls["p"].value = info["p"]

    def chosen(include: tuple) -> dict[Setting, Any]:
        if not include:
            raise ValueError("include: choose at least one training configuration")
        return {k: c for k, c in named.items() if k.training in include}

    def args(measure: str, rho: float, p: float, m: int) -> dict[str, Any]:
        if study.MEASURES[measure]["kind"] != "m":
            return {}
        if rho <= 0:
            raise ValueError(f"rho={rho!r} must be > 0 for an m-sharpness neighbourhood")
        return dict(rho=round(float(rho), 6), p=float(p), m=int(m))

    def setting(measure: str, rho: float, p: float, m: int, include: tuple) -> tuple[dict[str, Any], tuple]:
        """The measure's arguments and the key of this setting (what ``memo`` and ``absent`` are keyed by)."""
        kw = args(measure, rho, p, m)
        return kw, (measure, tuple(sorted(kw.items())), tuple(include))

    absent: dict = {}    # what the store lacks, per setting: read once per setting, emptied when a draw computes

    def missing(measure: str, rho: float, p: float, m: int, include: tuple) -> list[Any]:
        kw, key = setting(measure, rho, p, m, include)
        if key not in absent:
            absent[key] = study.stored_sharpness_values(chosen(include), measure, scale, store=store, **kw)[1]
        return absent[key]

    def needs_run(measure: str, rho: float, p: float, m: int, include: tuple) -> bool:
        try:
            return bool(missing(measure, rho, p, m, include))
        except ValueError:
            return False   # the draw shows the error in one line

    def describe_run(measure: str, rho: float, p: float, m: int, include: tuple) -> str:
        miss = missing(measure, rho, p, m, include)
        what = study.axis_label(measure, scale=scale, **args(measure, rho, p, m)).replace("\n", ", ")
        names = ", ".join(k.label for k in miss)
        return (f"Not stored yet: {what} for {len(miss)} run(s) ({names}). Click Run to compute and store "
                "it (each run loads its weights; seconds per run at quick scale, Keskar's the slowest).")

    def draw(measure: str, rho: float, p: float, m: int, include: tuple) -> Any:
        kw, key = setting(measure, rho, p, m, include)
        if key not in memo:
            runs = chosen(include)
            values = study.sharpness_values(runs, measure, scale, store=store, loaded=loaded, **kw)
            absent.clear()   # this draw may have computed and stored values
            rows = study.metric_rows(runs, values, curves, clean=clean)
            memo[key] = (rows, correlation_table(rows, n_boot=n_boot, seed=seed))
        rows, table = memo[key]
        label = study.axis_label(measure, scale=scale, **kw)
        fig = plot_sharpness_robustness({measure: rows}, xlabels={measure: label}, ncols=1,
                                        titles={measure: study.MEASURES[measure]["label"]}, title=title or None,
                                        panel_size=(5.0, 3.6))
        shown = table[["n", "Spearman ρ", "Spearman ρ CI low", "Spearman ρ CI high", "Kendall τ", "Pearson r",
                       "Pearson r p", "note"]].round(3)
        return [fig, shown]

    follow_measure("samson_2")
    return interactive_figure(draw, controls, needs_run=needs_run, describe_run=describe_run,
                              dependents={"measure": follow_measure}, dpi=dpi, min_width_px=560)
