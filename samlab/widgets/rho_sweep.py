"""Notebook 04b's explorer: the rho sweep of one model and method against SGD and Adam, drawn and as rows per rho."""
from __future__ import annotations

from typing import Any, Sequence

from ..plots.mnist1d import plot_rho_sweep
from .controls import choice_selector
from .core import Explorer, interactive_figure, render_outputs

__all__ = ["rho_sweep_explorer", "rho_sweep_figure", "rho_sweep_rows"]


def rho_sweep_rows(summary: Sequence[dict[str, Any]], model: str, method: str) -> str:
    """One line per rho of ``model`` and ``method`` in ``summary`` (:func:`samlab.experiments.mnist1d.summarize`):
    test accuracy with its interval, train accuracy, gap, calibration accuracy, seeds and seconds per run."""
    rows = [f"rho {e['rho']:<5g} test {e['test_acc']:5.1f} +- {e['test_acc_ci']:.1f}   "
            f"train {e['train_acc']:5.1f}   gap {e['gap']:5.1f}   calibration {e['calib_acc']:5.1f}   "
            f"({e['n']} seeds, {e['train_time_s']:.1f} s per run)"
            for e in summary if e["model"] == model and e["method"] == method]
    if not rows:
        raise ValueError(f"no summary rows for model={model!r} and method={method!r}")
    return "\n".join(rows)


def rho_sweep_figure(summary: Sequence[dict[str, Any]], model: str, method: str) -> tuple[Any, str]:
    """The rho sweep of ``method`` on ``model`` beside the SGD and Adam baselines, and its rows (stored runs only)."""
    rows = rho_sweep_rows(summary, model, method)
    entries = [e for e in summary if e["model"] == model and e["method"] in ("SGD", "Adam", method)]
    n = max(e["n"] for e in entries)
    return plot_rho_sweep(entries, model, title=f"MNIST-1D, {model}: {method} against rho "
                                                f"(mean and 95% CI over {n} seeds)"), rows


def rho_sweep_explorer(summary: Sequence[dict[str, Any]]) -> tuple[Explorer, Any]:
    """Choose a model and a method of the study's summary; shows :func:`rho_sweep_figure`. Nothing trains here."""
    models = list(dict.fromkeys(e["model"] for e in summary))
    methods = list(dict.fromkeys(e["method"] for e in summary))
    if not models:
        raise ValueError("summary holds no rows to choose from")
    controls = {"model": choice_selector(models, models[0], description="model"),
                "method": choice_selector(methods, methods[min(2, len(methods) - 1)], description="method")}
    # every (model, method) pair rendered once, now (issue 19: 12 pairs, ~0.25 s each at quick scale; a move then
    # shows a stored frame); a pair without rows renders its one-line error when chosen
    frames: dict[tuple[str, str], Any] = {}

    def draw(model: str, method: str) -> Any:
        if (model, method) not in frames:
            frames[model, method] = render_outputs(rho_sweep_figure(summary, model, method))
        return list(frames[model, method])

    for model in models:
        for method in methods:
            if any(e["model"] == model and e["method"] == method for e in summary):
                draw(model, method)
    return interactive_figure(draw, controls)
