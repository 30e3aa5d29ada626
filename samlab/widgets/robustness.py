"""Notebook 05's explorer: accuracy against sigma_c (and on PCM against time) for the population of runs.

Controls: the clipping c (the paper's grid; the population's own c is stored), the sigma_c range shown, which
methods, AdaBS on/off, the PCM read time. A setting whose runs and curves are all in the store redraws at once;
otherwise the output says what a click on Run would train and compute (at paper scale it never trains: it says
which command would).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import ipywidgets as W

from ..analog import YEAR
from ..checks import check_scale
from ..experiments import robustness
from ..experiments.seeds import Setting, pool_seeds
from ..plots.robustness_board import RobustnessBoard
from ..runs import RunStore
from ..train import train_all
from .controls import checkbox_group, choice_selector, range_slider
from .core import Explorer, interactive_figure

__all__ = ["robustness_explorer", "time_label"]

MIN_WIDTH_PX = 760


def time_label(t: float) -> str:
    """Seconds after programming as a readable label (``1 s``, ``37 min``, ``1 year``...)."""
    for unit, size in (("years", YEAR), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= size * 0.999:
            v = t / size
            return ("1 year" if unit == "years" and abs(v - 1) < 1e-6 else f"{v:.3g} {unit}")
    return f"{t:.3g} s"


def robustness_explorer(configs: Mapping[Setting, Any], scale: str = "quick", *, store: Any = None, title: str = "",
                        c_values: Sequence[float] = (0.05, 0.1, 0.15, 0.2), pcm: bool = True,
                        dpi: int = 80) -> tuple[Explorer, Any]:
    """Choose c, the sigma_c range, methods, AdaBS and a PCM read time; draw the noise curves with the Pareto plane
    and (``pcm``) the PCM curves, from the store.

    ``configs``: the population (:func:`samlab.experiments.robustness.population`); its clipped runs are re-made
    with the chosen c (:func:`~samlab.experiments.robustness.clipped_at`). A setting not yet stored shows what
    Run would train and compute; at ``scale="paper"`` Run refuses to train (use ``python -m samlab train``).
    """
    check_scale(scale)
    store = store if store is not None else RunStore()
    configs = dict(configs)
    if not configs:
        raise ValueError("configs is empty: nothing to explore")
    own_c = sorted({c.clip for k, c in configs.items() if k.training == "clipping" and c.clip})
    cs = sorted(set(own_c) | {float(c) for c in c_values})
    methods = list(dict.fromkeys(k.method for k in configs))
    noise = robustness.noise_curve_spec(scale)
    sig, draws = noise.sigmas, noise.draws
    times = robustness.pcm_curve_spec(scale).times

    def stored_c(c: float) -> bool:
        runs = robustness.clipped_at(configs, c)
        return bool(runs) and all(store.status(v) == "finished" for v in runs.values())

    def c_options() -> list[tuple[str, float]]:
        return [(f"c = {c:g}" + (" (stored)" if stored_c(c) else " (not stored)"), c) for c in cs]

    controls = {
        "c": choice_selector(c_options(), own_c[0] if own_c else cs[0], description="clipping"),
        "sigma_range": range_slider((0.0, max(sig)), min=0.0, max=max(sig), step=0.01, description="σc range"),
        "methods": checkbox_group(methods, description="methods"),
        "adabs": W.Checkbox(value=True, description="AdaBS (re-estimate BN statistics per draw)", indent=False),
        "time": choice_selector([(time_label(t), t) for t in times],
                                min(times, key=lambda t: abs(t - YEAR)), description="PCM read time"),
    }
    if not pcm:
        controls["time"].disabled = True

    picked: dict[tuple, dict[Setting, Any]] = {}     # (c, methods) -> runs: made once (a move is ~10 ms less)

    def chosen(c: float, chosen_methods: Sequence[str]) -> dict[Setting, Any]:
        if (c, tuple(chosen_methods)) not in picked:
            pop = {**configs, **robustness.clipped_at(configs, c)}
            picked[c, tuple(chosen_methods)] = {k: v for k, v in pop.items() if k.method in chosen_methods}
        return picked[c, tuple(chosen_methods)]

    # What the store holds, per (c, AdaBS) for every method: read once, not at every move (a move that only
    # changes the methods, the sigma_c range or the read time reads nothing); emptied when Run adds results.
    known: dict[tuple, Any] = {}

    def lookup(c: float, adabs: bool) -> dict[str, Any]:
        if (c, adabs) not in known:
            runs = chosen(c, methods)
            untrained = {k for k, v in runs.items() if store.status(v) != "finished"}
            curves, no_curve = robustness.stored_noise_curves(
                runs, robustness.noise_curve_spec(scale, adabs=adabs), store=store)
            pcm_curves, no_pcm = ({}, [])
            if pcm:
                pcm_curves, no_pcm = robustness.stored_pcm_curves(
                    runs, robustness.pcm_curve_spec(scale, adabs=adabs), store=store)
            known[(c, adabs)] = {"untrained": untrained, "no_curve": set(no_curve), "no_pcm": set(no_pcm),
                                 "curves": curves, "pcm": pcm_curves}
        return known[(c, adabs)]

    def missing(c: float, methods: Sequence[str], adabs: bool) -> tuple[list[Setting], list[Setting], list[Setting]]:
        found = lookup(c, adabs)
        return tuple([k for k in chosen(c, methods) if k in found[part]]   # type: ignore[return-value]
                     for part in ("untrained", "no_curve", "no_pcm"))

    # one figure per (c, AdaBS), every run of the population drawn once: a move of the methods, the sigma_c
    # range or the read time only shows, hides or moves its artists and redraws by blitting (issue 19)
    boards: dict[tuple, RobustnessBoard] = {}

    def board(c: float, adabs: bool, head: str) -> RobustnessBoard:
        if (c, adabs) not in boards:
            found = lookup(c, adabs)
            everything = {k: v for k, v in chosen(c, methods).items()     # every stored run (Run adds the rest)
                          if k in found["curves"] and (not pcm or k in found["pcm"])}
            curves, settings = pool_seeds({k: found["curves"][k] for k in everything}, everything)
            pcm_series = None
            if pcm:
                p, _ = pool_seeds({k: found["pcm"][k] for k in everything}, everything)
                pcm_series = robustness.pcm_series(p, settings)
            boards[(c, adabs)] = RobustnessBoard(robustness.series(curves, settings), pcm_series,
                                                 title=head, dpi=dpi)
        return boards[(c, adabs)]

    def needs_run(c: float, sigma_range: Any, methods: Sequence[str], adabs: bool, time: float) -> bool:
        return bool(methods) and any(missing(c, methods, adabs))

    def describe_run(c: float, sigma_range: Any, methods: Sequence[str], adabs: bool, time: float) -> str:
        untrained, no_curve, no_pcm = missing(c, methods, adabs)
        parts = []
        if untrained:
            names = ", ".join(k.label for k in untrained)
            parts.append(f"train {len(untrained)} run{'s' * (len(untrained) != 1)} ({names})")
        if no_curve:
            parts.append(f"compute {len(no_curve)} noise curve{'s' * (len(no_curve) != 1)} ({draws} draws × "
                         f"{len([s for s in sig if s > 0])} σc values each, AdaBS {'on' if adabs else 'off'})")
        if no_pcm:
            parts.append(f"compute {len(no_pcm)} PCM curve{'s' * (len(no_pcm) != 1)}")
        where = ("Not in the store: paper-scale runs are trained from the command line "
                 "(python -m samlab train ...), not from this widget; it would " if scale == "paper"
                 else "Not in the store yet. Run would ")
        return where + "; ".join(parts) + (". Minutes at quick scale." if scale == "quick" else ".")

    def draw(c: float, sigma_range: Any, methods: Sequence[str], adabs: bool, time: float) -> Any:
        if not methods:
            raise ValueError("no method selected: choose at least one in 'methods'")
        runs = chosen(c, methods)
        untrained, no_curve, no_pcm = missing(c, methods, adabs)
        if untrained or no_curve or no_pcm:
            if scale == "paper":
                raise ValueError(describe_run(c, sigma_range, methods, adabs, time))
            train_all(list(runs.values()), store=store)
            robustness.noise_curves(runs, robustness.noise_curve_spec(scale, adabs=adabs), store=store)
            if pcm:
                robustness.pcm_curves(runs, robustness.pcm_curve_spec(scale, adabs=adabs), store=store)
            known.clear()
            picked.clear()
            boards.pop((c, adabs), None)
            if untrained and explorer:
                explorer[0].relabel("c", c_options())   # this c is stored now: its label says so
        found = lookup(c, adabs)
        if "title" not in found:
            found["title"] = title or robustness.data_title([store.load(v) for v in runs.values()], scale)
        summary = found.setdefault("summaries", {})      # per choice of methods: its rows, pooled once
        if tuple(methods) not in summary:
            curves, settings = pool_seeds({k: found["curves"][k] for k in runs}, runs)
            rows = robustness.robustness_rows(curves, settings)
            pooled_pcm = pool_seeds({k: found["pcm"][k] for k in runs}, runs)[0] if pcm else {}
            summary[tuple(methods)] = rows, pooled_pcm
        rows, pooled_pcm = summary[tuple(methods)]
        seeds = max(r["seeds"] for r in rows)
        front = [r["name"] for r in rows if r["front"]]
        out: list[Any] = [f"c = {c:g}, AdaBS {'on' if adabs else 'off'}, {draws} draws per σc"
                          + (f" × {seeds} training seeds (mean ± std over both)" if seeds > 1 else "")
                          + f". On the Pareto frontier: {', '.join(front)}."]
        lo, hi = float(sigma_range[0]), float(sigma_range[1])
        if not hi > lo:
            raise ValueError(f"σc range ({lo:g}, {hi:g}) is empty: move the right end above the left")
        if pcm:
            at = robustness.pcm_rows(pooled_pcm, time)
            out.append(f"On PCM {time_label(time)} after programming: " + "; ".join(
                f"{r['name']} {100 * r['acc']:.1f}% ± {100 * r['std']:.1f}" for r in
                sorted(at, key=lambda r: -r["acc"])) + ".")
        shown = board(c, adabs, found["title"])
        return [*out, shown.show([r["name"] for r in rows], front, (lo, hi), time if pcm else None)]

    explorer: list[Explorer] = []
    ui, out = interactive_figure(draw, controls, needs_run=needs_run, describe_run=describe_run, dpi=dpi,
                                 min_width_px=MIN_WIDTH_PX, columns=2)
    explorer.append(ui)
    return ui, out

