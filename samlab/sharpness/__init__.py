"""Sharpness measures of a trained model, one module per measure (SAMSON sec. 6.3 and appendix C; ESAM Fig. 4).

* :mod:`.m_sharpness`: m-sharpness in the SAM / ASAM / SAMSON neighbourhoods (eq. 10-12, Figs. 3, 4, 7, 8).
* :mod:`.keskar`: Keskar et al.'s box sharpness, maximised with L-BFGS-B (Fig. 9).
* :mod:`.hessian`: the largest Hessian eigenvalue by power iteration on Hessian-vector products.
* :mod:`.landscape`: 1-D/2-D loss slices along filter-normalised random or adversarial directions.
* :mod:`.noise_curvature`: ``tr(D_W H D_W)`` by Hutchinson probes, the second-order expected loss rise under
  conductance noise (SAMSON eq. 7-8), ``(sigma_c^2 / 2) tr(D_W H D_W)``.

Each measure is a pure function ``(model, x, y, ...) -> JSON-able dict`` and a frozen-dataclass spec (its settings and
its data) whose ``compute(model, data)`` runs it; a measurement of a stored run is kept in the run's folder, keyed by
the spec (:meth:`samlab.runs.RunStore.measure`, :func:`samlab.train.load.measure_run`). Every measure runs the model
in eval mode, restores the exact weights and the training flags, leaves ``.grad`` alone and draws random numbers only
from its own seeded ``torch.Generator``. Nothing here imports plotting (:mod:`samlab.plots.landscape` draws the landscapes).
"""
from __future__ import annotations

from .hessian import HessianSpec, hessian_max_eigenvalue, hessian_vector_product, power_iteration
from .keskar import KESKAR_PARAMETERS, KeskarSpec, box_maximum, keskar_sharpness
from .landscape import (LANDSCAPE_KINDS, LandscapeSpec, adversarial_directions, filter_normalize,
                        grid_coordinates, landscape_grid, loss_landscape, random_directions)
from .m_sharpness import MSharpnessSpec, PerturbationShareSpec, m_sharpness, perturbation_shares, worst_case_loss
from .noise_curvature import (NOISE_CURVATURE_SIGMAS, NoiseCurvatureSpec, noise_curvature, predicted_loss_rise,
                              rademacher_probes)

__all__ = [
    "MSharpnessSpec", "m_sharpness", "worst_case_loss", "PerturbationShareSpec", "perturbation_shares",
    "KeskarSpec", "KESKAR_PARAMETERS", "box_maximum", "keskar_sharpness",
    "HessianSpec", "hessian_vector_product", "power_iteration", "hessian_max_eigenvalue",
    "LandscapeSpec", "LANDSCAPE_KINDS", "random_directions", "filter_normalize", "adversarial_directions",
    "grid_coordinates", "landscape_grid", "loss_landscape",
    "NoiseCurvatureSpec", "NOISE_CURVATURE_SIGMAS", "noise_curvature", "predicted_loss_rise", "rademacher_probes",
]
