"""Notebook 01's explorer: logits and SAM/ASAM/SAMSON sharpness across positive scalings (ASAM report Figs. 2-4).

A move answers within about 0.1 s on two cores (issue 19): the numbers come from a
:class:`~samlab.experiments.scale_invariance.ScalingSweep` (the study's numbers; a rho move is one batched forward
pass, and every scaling and rule for T at the starting p and tau range is prepared when the explorer is built), and
one figure is kept and updated in place, redrawn by blitting: the lines that moved and the axes whose limits
changed, not three new panels.
"""
from __future__ import annotations

from typing import Any

from ..experiments import scale_invariance
from ..plots import plot_scale_invariance
from .controls import choice_selector, p_selector, range_slider, rho_slider
from .core import Explorer, interactive_figure

__all__ = ["scale_invariance_explorer"]


def scale_invariance_explorer(*, rho: float = 0.05, p: float = 2.0, tau_range: tuple[float, float] = (0.5, 1.5),
                              scaling: str = "no biases", asam_adaptive: str = "weights", k: int = 50,
                              seed: int = 0) -> tuple[Explorer, Any]:
    """Logits and sharpness across ``k`` positive scalings, with the bias caveat; returns ``(ui, out)``."""
    sweep = scale_invariance.ScalingSweep(k=k, seed=seed)
    sweep.prepare(p=p, tau_range=tau_range)
    shown: dict[str, Any] = {"fig": None}      # the one figure, updated by every draw

    def draw(rho: float, p: float, tau_range: tuple[float, float], scaling: str, asam_adaptive: str):
        res = sweep.study(rho=rho, p=p, tau_range=tau_range, scaling=scaling, asam_adaptive=asam_adaptive)
        shown["fig"] = plot_scale_invariance(res["logits"], res["sharpness"], labels=res["labels"],
                                             colors=res["colors"], fig=shown["fig"], fixed_layout=True,
                                             title=f"{scaling}; ASAM/SAMSON normalise {asam_adaptive}; ρ = {rho:g}")
        return [shown["fig"], scale_invariance.format_spreads(res)]

    controls = {
        "rho": rho_slider("sam", value=rho, max=0.5),
        "p": p_selector(p),
        "tau_range": range_slider(tau_range, description="τ range"),
        "scaling": choice_selector(list(scale_invariance.SCALINGS), scaling, description="biases"),
        "asam_adaptive": choice_selector([("weights only (official ASAM)", "weights"), ("weights and biases", "all")],
                                         asam_adaptive, description="T applies to"),
    }
    return interactive_figure(draw, controls, columns=3, min_width_px=560)
