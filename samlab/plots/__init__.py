"""samlab's figures: a shared core and one module per notebook topic, all reachable as ``sl.plots.<name>``.

* :mod:`~samlab.plots.core`: :class:`SamlabFigure` (pyplot-free, shows itself in a notebook),
  :func:`new_figure`, :func:`save_figure` (PNG + PDF into ``figures/``), :func:`figure_png`, :func:`nice_ceiling`;
* :mod:`~samlab.plots.blitting`: :func:`enable_blitting`, the fast slider redraw of notebook 02;
* :mod:`~samlab.plots.scale_invariance` (notebook 01), :mod:`~samlab.plots.perturbation_profiles` (02),
  :mod:`~samlab.plots.generalization` (03), :mod:`~samlab.plots.training` (04),
  :mod:`~samlab.plots.landscape` (loss landscapes: contour, surface, 1-D slices), :mod:`~samlab.plots.mnist1d` (04b),
  :mod:`~samlab.plots.robustness` (05), :mod:`~samlab.plots.sharpness` (sharpness against robustness, 06).

Method names, labels and colours live in :mod:`samlab.methods`. Nothing computational imports this package.
"""
from __future__ import annotations

from ..extras import require_extra

require_extra("notebooks", "samlab.plots (figures)")  # one clear line when the extra is missing

from .blitting import enable_blitting
from .core import SamlabFigure, figure_png, new_figure, nice_ceiling, save_figure
from .generalization import plot_generalization_curves, plot_variance_gallery
from .landscape import plot_landscape_1d, plot_landscape_contour, plot_landscape_surface
from .mnist1d import plot_method_comparison, plot_rho_sweep
from .perturbation_profiles import plot_perturbation_profiles
from .robustness import plot_noise_curves, plot_pareto, plot_pcm_curves
from .scale_invariance import plot_scale_invariance
from .sharpness import plot_sharpness_robustness
from .training import plot_esam_study, plot_learning_curves, plot_throughput

__all__ = [
    "SamlabFigure", "new_figure", "save_figure", "figure_png", "enable_blitting", "nice_ceiling",
    "plot_scale_invariance", "plot_perturbation_profiles", "plot_variance_gallery", "plot_generalization_curves",
    "plot_learning_curves", "plot_esam_study", "plot_throughput",
    "plot_landscape_contour", "plot_landscape_surface", "plot_landscape_1d",
    "plot_rho_sweep", "plot_method_comparison", "plot_noise_curves", "plot_pareto", "plot_pcm_curves",
    "plot_sharpness_robustness",
]
