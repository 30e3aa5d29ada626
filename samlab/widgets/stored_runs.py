"""Notebook 04's explorer: choose a finished training run from the store and draw its learning curves.

Runs are told apart by their whole config: a *setting* is every config field except the seed (ESAM's beta and
gamma, eta, the base optimizer, clipping, and any protocol field that differs), and *seeds* are runs that
differ in the seed alone. The controls offer only what is stored: a method, then that method's settings (each
labelled by what sets it apart), then that setting's seeds. Choosing a method or a setting moves the controls
that depend on it together, followed by one redraw. Nothing ever trains here.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from ..experiments.cifar import learning_curve
from ..methods import format_p, method_name, run_label
from ..plots import plot_learning_curves
from .controls import choice_selector, dropdown_width
from .core import Explorer, interactive_figure, render_outputs

__all__ = ["stored_run_explorer", "run_settings"]

_SYMBOLS = {"rho": "ρ", "p": "p", "eta": "η", "beta": "β", "gamma": "γ"}
_NOT_A_SETTING = ("seed", "device")   # the device is no part of a run's key; the seed makes seeds
#: Frames rendered when the explorer is built (each ~0.2 s at 2 cores).
PRECOMPUTE = 24
MIN_WIDTH_PX = 560
_PANEL = (3.6, 2.8)     # inches per panel (plot_learning_curves' default): 576 px wide for two at 80 dpi


def _fields(cfg: Any) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in _NOT_A_SETTING}


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return format_p(value)
    return "none" if value is None else str(value)


def _field_text(name: str, value: Any) -> str:
    return f"{_SYMBOLS.get(name, name)}={_value_text(value)}"


def _method_text(method: str, settings: Sequence[dict[str, Any]]) -> str:
    """The method dropdown's label: ``SAM``...; the baselines (method ``base``) by their optimizers, ``SGD/Adam``."""
    if method != "base":
        return method.upper()
    return "/".join(dict.fromkeys(method_name(s["config"]) for s in settings if s["method"] == "base"))


def run_settings(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """Group finished runs by setting (whole config but the seed): ``[{"label", "method", "config", "seeds"}]``.

    ``seeds`` maps each seed to its run. The label is the run's name plus the fields that vary among the
    stored runs of the same method (``SAMSON_2 · ρ=1``; ``ESAM-SWP (β=0.3)``), so no two settings look alike.
    """
    groups: dict[tuple, dict[str, Any]] = {}
    for r in runs:
        key = tuple(_fields(r.config).items())
        g = groups.setdefault(key, {"method": r.config.method, "config": r.config, "seeds": {}})
        g["seeds"].setdefault(r.config.seed, r)
    settings = list(groups.values())
    for method in dict.fromkeys(s["method"] for s in settings):
        mine = [s for s in settings if s["method"] == method]
        varying = [k for k in _fields(mine[0]["config"])
                   if len({repr(_fields(s["config"])[k]) for s in mine}) > 1]
        for s in mine:
            name = run_label(s["config"], tex=False)
            shown = [k for k in varying if not (k == "p" and method == "samson")
                     and not (k in ("beta", "gamma") and method == "esam") and k not in ("base", "clip")]
            extra = ", ".join(_field_text(k, _fields(s["config"])[k]) for k in shown)
            s["label"] = f"{name} · {extra}" if extra else name
    labels = [s["label"] for s in settings]
    for i, s in enumerate(settings):   # fields that render alike (never expected): keep the labels unique
        if labels.count(s["label"]) > 1:
            s["label"] += f" #{i}"
    return settings


def stored_run_explorer(results: Sequence[Any], *, reference: str = "SGD", title: str = "",
                        dpi: int = 80) -> tuple[Explorer, Any]:
    """Choose a stored run by method, setting and seed; draw its learning curves next to ``reference``'s.

    ``results``: finished :class:`samlab.runs.RunResult` of :class:`samlab.train.TrainConfig` runs (e.g. every
    finished run in the store that shares notebook 04's protocol). The run named ``reference`` (a plain
    label such as ``"SGD"``; the same seed when stored) is drawn alongside in grey.
    """
    runs = [r for r in results if getattr(r, "finished", False) and dataclasses.is_dataclass(getattr(r, "config", None))
            and hasattr(r.config, "method")]
    if not runs:
        raise ValueError("results holds no finished training run to choose from")
    settings = run_settings(runs)
    methods = list(dict.fromkeys(s["method"] for s in settings))
    refs = {r.config.seed: r for r in runs if r.config.label == reference}
    varying = [k for k in ("method", *_fields(runs[0].config))
               if len({repr(getattr(r.config, k, None)) for r in runs}) > 1]

    def setting_options(method: str) -> list[tuple[str, int]]:
        return [(s["label"], i) for i, s in enumerate(settings) if s["method"] == method]

    def seed_options(index: int) -> list[tuple[str, int]]:
        return [(str(seed), seed) for seed in sorted(settings[index]["seeds"])]

    first = settings[0]
    controls = {
        "method": choice_selector([(_method_text(m, settings), m) for m in methods],
                                  first["method"], description="method"),
        "setting": choice_selector(setting_options(first["method"]), 0, description="run"),
        "seed": choice_selector(seed_options(0), min(first["seeds"]), description="seed"),
    }
    controls["setting"].layout.width = dropdown_width([s["label"] for s in settings], "run")
    controls["seed"].disabled = len(first["seeds"]) == 1

    def follow_method(method: str) -> None:
        controls["setting"].options = setting_options(method)     # selects the method's first setting

    def follow_setting(index: int) -> None:
        controls["seed"].options = seed_options(index)            # selects its first seed
        controls["seed"].disabled = len(controls["seed"].options) == 1

    rendered: dict[tuple[int, int], tuple[dict, ...]] = {}   # stored runs never change: render each once

    def draw(method: str, setting: int, seed: int) -> Any:
        s = settings[setting]
        if s["method"] != method or seed not in s["seeds"]:   # only reachable by setting values by hand
            raise ValueError(f"no stored run with method={method!r}, setting {s['label']!r}, seed={seed}; "
                             f"stored seeds: {sorted(s['seeds'])}")
        if (setting, seed) in rendered:
            return list(rendered[setting, seed])
        r = s["seeds"][seed]
        ref = refs.get(seed) or next(iter(refs.values()), None)
        curves = [learning_curve(r)]
        if ref is not None and ref is not r:
            curves.append({**learning_curve(ref), "key": "base"})
        summary = r.summary
        train_acc = summary.get("train_eval_acc", summary["train_acc"])
        seeds = sorted(s["seeds"])
        apart = ", ".join(_field_text(k, getattr(r.config, k)) for k in varying if k != "method")
        text = (f"{s['label']}, seed {seed}: test {100 * summary['test_acc']:.2f}%, train {100 * train_acc:.2f}%, "
                f"gap {100 * (train_acc - summary['test_acc']):.2f} points, {summary['images_per_s']:.0f} images/s. "
                f"{len(seeds)} seed{'s' * (len(seeds) != 1)} stored for this setting ({', '.join(map(str, seeds))})"
                + (f"; what differs among the stored runs: {apart}." if apart else "."))
        # one size for every run (issue 19): the reference run alone gets one panel as wide as two
        fig = plot_learning_curves(curves, ncols=2, title=title or None,
                                   panel_size=(_PANEL[0] * (3 - len(curves)), _PANEL[1]))
        rendered[setting, seed] = render_outputs([text, fig], dpi=dpi, min_width_px=MIN_WIDTH_PX)
        return list(rendered[setting, seed])

    # the (setting, seed) pairs a control can reach, rendered now (issue 19: a move then only shows a stored
    # frame; about 0.2 s each): every setting's first seed, then second seeds..., PRECOMPUTE at most; the rest is
    # rendered on first visit
    reachable = sorted(((rank, i, seed) for i, s in enumerate(settings)
                        for rank, seed in enumerate(sorted(s["seeds"]))), key=lambda t: t[:2])
    for _, i, seed in reachable[:PRECOMPUTE]:
        draw(settings[i]["method"], i, seed)
    return interactive_figure(draw, controls, dependents={"method": follow_method, "setting": follow_setting},
                              dpi=dpi, min_width_px=MIN_WIDTH_PX)
