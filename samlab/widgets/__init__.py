"""Notebook widgets: the shared controls, the interactive-figure core and one explorer per notebook.

``controls``: ``rho_slider``, ``p_selector``, ``c_slider``, ``range_slider``, ``choice_selector``,
``checkbox_group`` (several options, a box each: no ctrl-click) (built once
here so a knob looks the same everywhere). ``core``: :class:`Explorer` / :func:`interactive_figure` (wiring
through ``ipywidgets.interactive_output``, one-line errors, one redraw per change, a Run button for slow
settings). Explorers: :func:`scale_invariance_explorer` (notebook 01), :func:`perturbation_explorer` (02),
:func:`variance_explorer` (03), :func:`stored_run_explorer` (04), :func:`rho_sweep_explorer` (04b),
:func:`robustness_explorer` (05); each returns ``(ui, out)``.
"""
from __future__ import annotations

from ..extras import require_extra

require_extra("notebooks", "samlab.widgets (notebook controls)")  # one clear line when the extra is missing

from .controls import (P_CHOICES, CheckboxGroup, c_slider, checkbox_group, choice_selector, p_selector, range_slider,
                       rho_slider)
from .core import Explorer, error_output, interactive_figure, render_outputs
from .perturbation import perturbation_explorer
from .rho_sweep import rho_sweep_explorer, rho_sweep_rows
from .robustness import robustness_explorer
from .scale_invariance import scale_invariance_explorer
from .sharpness import sharpness_explorer
from .stored_runs import stored_run_explorer
from .variance import variance_explorer

__all__ = [
    "P_CHOICES", "rho_slider", "p_selector", "c_slider", "range_slider", "choice_selector", "checkbox_group",
    "CheckboxGroup",
    "Explorer", "interactive_figure", "render_outputs", "error_output",
    "scale_invariance_explorer", "perturbation_explorer", "variance_explorer", "stored_run_explorer",
    "rho_sweep_explorer", "rho_sweep_rows",
    "robustness_explorer", "sharpness_explorer",
]
