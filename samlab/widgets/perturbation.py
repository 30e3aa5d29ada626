"""Notebook 02's explorer (SAMSON Fig. 1): eps* against the weight value, redrawn while rho, p or c is dragged."""
from __future__ import annotations

import math
from typing import Any

from ..experiments.perturbation_profiles import perturbation_profiles, profile_limits
from ..plots import figure_png, plot_perturbation_profiles
from .controls import c_slider, p_selector, rho_slider
from .core import Explorer, interactive_figure

__all__ = ["perturbation_explorer"]


def perturbation_explorer(*, rho: float = 0.5, p: float = 2.0, c: float = 0.1, show_time: bool = True,
                          **profile_kwargs: Any) -> tuple[Explorer, Any]:
    """eps* against w with rho, p and c; continuous redraw, timed (``ui.timing['last_redraw_ms']``).

    p = inf has one panel fewer (SAMSON_p is SAMSON_inf), each wider, so that both layouts make one image size
    (832 x 232 px at 80 dpi); the explorer keeps one figure per layout, each with its cached panels, and renders the layout not shown once when it is built (about 0.2 s): choosing
    p = inf, or leaving it, then redraws only the panels that changed instead of a whole new figure.
    """
    dpi = 80                             # as every explorer; 72 made the smallest image of the suite (issue 19)
    panel_size = (2.6, 2.9)              # the saved figure's panels are 2.3 in tall: 166 px here was too short
    width = 4 * panel_size[0]            # one image size for both layouts (4 panels, or 3 when p = inf)
    figs: dict[bool, Any] = {}          # is p infinite -> its figure
    controls = {"rho": rho_slider("samson", value=rho, max=2.0, step=0.01), "p": p_selector(p),
                "c": c_slider(c, max=0.25, step=0.005)}
    c_range = [controls["c"].step, controls["c"].max, *profile_kwargs.get("cs", (0.1, 0.15, 0.2))]
    layer = {k: v for k, v in profile_kwargs.items() if k in ("n", "std", "seed")}

    def draw(rho: float, p: float, c: float):
        profiles = perturbation_profiles(rho=rho, p=p, c=c, **profile_kwargs)
        # axes cover the c slider's whole range: dragging c only redraws the lines
        ymax = profile_limits(rho=rho, p=p, c_values=c_range, eta=profile_kwargs.get("eta", 0.0), **layer)
        layout = math.isinf(p)
        panels = len({(pr["method"], pr.get("p")) for pr in profiles})   # p = inf: one fewer, each wider
        figs[layout] = plot_perturbation_profiles(profiles, highlight=c, fig=figs.get(layout), ymax=ymax,
                                                  xmax=max(c_range), panel_size=(width / panels, panel_size[1]))
        return figs[layout]

    ui, out = interactive_figure(draw, controls, continuous=True, show_time=show_time, dpi=dpi)
    if figs:  # the first draw worked: render the other layout once, off screen
        figure_png(draw(controls["rho"].value, 2.0 if math.isinf(controls["p"].value) else math.inf,
                        controls["c"].value), dpi=dpi)
    return ui, out
