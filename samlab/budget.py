"""Where the perturbation budget goes: the share of ``||eps||^2`` per kind of parameter.

ASAM (eq. 4) and SAMSON (eq. 6) spend one budget ``rho`` on all tensors together: ``eps = rho T^2 g / ||T g||``.
Tensors that get ``T = 1`` (under the default rule ``"weights"``: biases and BatchNorm's scale and shift) compete
with tensors whose ``T`` is small (``|w| + eta`` with ``|w| ~ 0.05`` for ASAM, ``|w| / ||W||_2 ~ 1/sqrt(n)`` for
SAMSON_2), so the 1-d tensors can take almost all of ``||eps||^2``. :func:`perturbation_budget` measures that on
a model from its current gradients.

Measured on ResNet-20 at initialisation (a random batch of 32 CIFAR-shaped images, cross-entropy gradient; the
full table is in the docstring of :func:`perturbation_budget`): under ``"weights"`` about 99 % of ASAM's and
99.97 % of SAMSON_2's ``||eps||^2`` lands on BatchNorm parameters and the classifier bias, so SAMSON_2 is then in
effect SAM on those 1-d tensors; hence SAMSON's default ``"weights_only"``.
"""
from __future__ import annotations

from torch import Tensor, nn

from .perturbation import DEFAULT_ADAPTIVE, check_method_args, worst_case_perturbation

__all__ = ["BUDGET_GROUPS", "parameter_group", "perturbation_budget"]

#: The kinds of parameter :func:`perturbation_budget` reports, in this order.
BUDGET_GROUPS = ("conv/linear weights", "batchnorm", "biases", "other")
_CONV_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def parameter_group(module: nn.Module, name: str) -> str:
    """The budget group of ``module``'s own parameter ``name``: conv/linear weight, BatchNorm scale/shift,
    conv/linear bias, or other (embeddings, LayerNorm, ...)."""
    if isinstance(module, _CONV_LINEAR):
        return "conv/linear weights" if name == "weight" else "biases" if name == "bias" else "other"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batchnorm"
    return "other"


def perturbation_budget(model: nn.Module, *, method: str, rho: float | None = None, p: float = 2.0,
                        eta: float | None = None, adaptive_params: str | None = None) -> dict[str, float]:
    """Share of ``||eps*||_2^2`` (eq. 2/4/6, from the current ``.grad``) per group of :data:`BUDGET_GROUPS`.

    ``adaptive_params`` is a rule of :data:`samlab.perturbation.ADAPTIVE_PARAMS` (``None``: the method's
    default). Parameters without a gradient are left out (as the optimizer leaves them). The shares sum to 1, or are
    all 0 when ``eps* = 0``. ``rho`` does not change the shares (``eps*`` is linear in it).

    ResNet-20 at initialisation (``torch.manual_seed(0)``), a batch of 32 ``N(0, 1)`` CIFAR-shaped images and
    labels (generator seed 0), cross-entropy gradient, paper rho/eta; shares in % as
    conv/linear weights / batchnorm / biases (the classifier's bias is ResNet-20's only bias; "other" is 0)::

        adaptive_params   SAM              ASAM             SAMSON_2         SAMSON_inf
        weights           98.7/0.6/0.7     0.9/47.9/51.1    0.0/48.4/51.6    91.7/4.0/4.3
        named_weight      98.7/0.6/0.7     0.9/48.3/50.8    0.0/39.1/60.9    91.7/4.0/4.3
        all               98.7/0.6/0.7     5.5/94.4/0.1     2.1/2.7/95.2     96.0/1.3/2.7
        weights_only      100/0/0          100/0/0          100/0/0          100/0/0
    """
    method, rho, p, eta = check_method_args(method, rho, p, eta)
    names, params, groups = [], [], []
    for mod_name, module in model.named_modules():
        for name, w in module.named_parameters(recurse=False):
            if w.grad is None:
                continue
            names.append(f"{mod_name}.{name}" if mod_name else name)
            params.append(w)
            groups.append(parameter_group(module, name))
    rule = DEFAULT_ADAPTIVE[method] if adaptive_params is None else adaptive_params
    eps = worst_case_perturbation(params, [w.grad for w in params], method=method, rho=rho, p=p, eta=eta,
                                  adaptive=rule, names=names)
    sums = dict.fromkeys(BUDGET_GROUPS, 0.0)
    for group, e in zip(groups, eps):
        if e is not None:
            sums[group] += _sq(e)
    total = sum(sums.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in sums.items()}


def _sq(t: Tensor) -> float:
    return float(t.detach().double().pow(2).sum())
