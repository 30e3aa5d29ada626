"""Notebook 06's explorer: one sharpness measure against the robustness gap, with its correlation table.

Controls: the measure (the paper's five and samlab's two), rho and p of the m-sharpness neighbourhood, m, and which training
configurations to include. A setting whose values are all stored answers at once; one that is not shows what
a Run click would compute (which measure, on how many runs) and waits for the button. Noise curves are never
computed here: the runs without a stored curve are left out and named.
"""
from __future__ import annotations

import itertools
from typing import Any, Mapping

from ..experiments import sharpness_robustness as study
from ..experiments.correlation import correlation_table
from ..experiments.seeds import TRAININGS, Setting
from ..methods import format_p, method_name
from ..plots.sharpness import SharpnessBoard
from .controls import checkbox_group, choice_selector, p_selector, rho_slider
from .core import Explorer, interactive_figure, render_outputs

__all__ = ["sharpness_explorer", "M_CHOICES", "measure_options", "measure_title", "RHO_NOTE"]

#: m offered by the explorer (the paper uses 128 on CIFAR).
M_CHOICES = (16, 32, 64, 128, 256)
MIN_WIDTH_PX = 560


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
        "measure": choice_selector(measure_options("samson_2", 2.0), "samson_2", description="measure"),
        "rho": rho_slider("samson", value=0.5, max=2.0, step=0.05),
        "p": p_selector(2.0),
        "m": choice_selector(m_options, default_m, description="m"),
        "include": checkbox_group(trainings, description="configurations"),
    }
    loaded: dict = {}
    memo: dict = {}
    correlations: dict = {}   # a group's statistics by its data: ticking a configuration recomputes only "all"
    board: list[SharpnessBoard] = []
    methods = list(dict.fromkeys(method_name(c) for c in named.values()))   # the rows' "method"

    quiet: list[bool] = []     # while the measure's labels are renamed: its value passes through others, unseen

    def follow_measure(measure: str) -> None:
        if quiet:
            return
        info = study.MEASURES[measure]
        m_kind = info["kind"] == "m"
        controls["rho"].disabled = controls["m"].disabled = not m_kind
        controls["p"].disabled = not (m_kind and info["method"] == "samson")
        if m_kind:
            controls["rho"].value = info["rho"]
            controls["p"].value = info["p"]
        follow_p(controls["p"].value)

    def follow_p(p: float) -> None:
        """The chosen measure's label names the p it is computed with (not the paper's, once p is changed)."""
        if quiet or not explorer:
            return
        quiet.append(True)
        try:
            explorer[0].relabel("measure", measure_options(controls["measure"].value, p))
        finally:
            quiet.clear()

    def chosen(include: tuple) -> dict[Setting, Any]:
        if not include:
            raise ValueError("no configuration ticked: tick at least one in 'configurations'")
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

    # what the store holds of a measure at its settings, for every run: read once (~0.1 s), whatever the
    # configurations ticked; emptied when a draw computes
    stored: dict = {}

    def stored_of(measure: str, kw: Mapping[str, Any]) -> tuple[dict, list]:
        key = (measure, tuple(sorted(kw.items())))
        if key not in stored:
            stored[key] = study.stored_sharpness_values(named, measure, scale, store=store, **kw)
        return stored[key]

    def missing(measure: str, rho: float, p: float, m: int, include: tuple) -> list[Any]:
        runs = chosen(include)
        return [k for k in stored_of(measure, args(measure, rho, p, m))[1] if k in runs]

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

    def summary(measure: str, rho: float, p: float, m: int, include: tuple) -> tuple[list, Any]:
        """The rows and correlation table of a setting (computed and stored first when the store lacks values)."""
        kw, key = setting(measure, rho, p, m, include)
        if key not in memo:
            runs = chosen(include)
            if missing(measure, rho, p, m, include):     # Run: compute and store what the store lacks
                study.sharpness_values(runs, measure, scale, store=store, loaded=loaded, **kw)
                stored.clear()
                frames.clear()
                limits.clear()
            values = stored_of(measure, kw)[0]
            rows = study.metric_rows(runs, {k: v for k, v in values.items() if k in runs}, curves, clean=clean)
            table = correlation_table(rows, n_boot=n_boot, seed=seed, cache=correlations)
            memo[key] = (rows, table[["n", "Spearman ρ", "Spearman ρ CI low", "Spearman ρ CI high", "Kendall τ",
                                      "Pearson r", "Pearson r p", "note"]].round(3))
        return memo[key]

    frames: dict = {}    # rendered outputs per setting (the figure is one reused object: its PNG is kept)
    limits: dict = {}    # per measure and settings: the panel's limits with every run, kept for fewer runs

    def draw(measure: str, rho: float, p: float, m: int, include: tuple) -> Any:
        kw, key = setting(measure, rho, p, m, include)
        if key not in frames:
            rows, shown = summary(measure, rho, p, m, include)
            label = study.axis_label(measure, scale=scale, **kw)
            if not board:   # one figure for every move: its layout, axes and legend are cached images (issue 19)
                board.append(SharpnessBoard(trainings, methods, title=title or None, panel_size=(7.0, 4.0), dpi=dpi))
            if key[:2] not in limits and not missing(measure, rho, p, m, tuple(trainings)):
                board[0].show(summary(measure, rho, p, m, tuple(trainings))[0], label)
                limits[key[:2]] = board[0].limits()
            fig = board[0].show(rows, label, limits=limits.get(key[:2]))
            frames[key] = render_outputs([fig, shown, RHO_NOTE], dpi=dpi, min_width_px=MIN_WIDTH_PX)
        return list(frames[key])

    explorer: list[Explorer] = []
    follow_measure("samson_2")
    ui, out = interactive_figure(draw, controls, needs_run=needs_run, describe_run=describe_run,
                                 dependents={"measure": follow_measure, "p": follow_p}, dpi=dpi,
                                 min_width_px=MIN_WIDTH_PX)
    explorer.append(ui)
    # every stored setting a move of measure or configurations reaches (each measure at its figure's rho and p),
    # summarised now (~0.1-0.3 s each, correlations shared across choices): such a move only draws (issue 19)
    for measure, info in study.MEASURES.items():
        for n in range(1, len(trainings) + 1):
            for include in itertools.combinations(trainings, n):
                values = (measure, info.get("rho", 0.5), info.get("p", 2.0), default_m, include)
                if not missing(*values):
                    summary(*values)
        if not missing(measure, info.get("rho", 0.5), info.get("p", 2.0), default_m, tuple(trainings)):
            draw(measure, info.get("rho", 0.5), info.get("p", 2.0), default_m, tuple(trainings))   # its layers
    return ui, out


#: What the table's ρ is, beside the slider's ρ (issue 19: two ρ side by side, unexplained).
RHO_NOTE = ("The slider's ρ is the radius of the m-sharpness neighbourhood; the table's Spearman ρ is the rank "
            "correlation of that sharpness with the robustness gap (+1: sharper runs always lose more under noise).")


def measure_title(measure: str, p: float) -> str:
    """The measure's name with the p it is computed with: a SAMSON measure at another p than its figure's says so."""
    info = study.MEASURES[measure]
    if info["kind"] == "m" and info["method"] == "samson" and float(p) != float(info["p"]):
        return f"SAMSON's m-sharpness (p = {format_p(p)}; {info['figure']} has p = {format_p(info['p'])})"
    return info["label"]


def measure_options(chosen: str, p: float) -> list[tuple[str, str]]:
    """The measure dropdown's options: each with its figure; the chosen one named with the p in use."""
    def label(k: str, info: dict) -> str:
        named = measure_title(k, p) if k == chosen else info["label"]
        return named if named != info["label"] else f"{info['label']} ({info['figure']})"
    return [(label(k, i), k) for k, i in study.MEASURES.items()]
