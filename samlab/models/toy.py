"""The ASAM report's Table II MLP (notebook 03's 2-D toy data)."""
from __future__ import annotations

from torch import nn

__all__ = ["table2_mlp"]


def table2_mlp(num_classes: int = 2, in_features: int = 2, width: int = 10) -> nn.Sequential:
    """The ASAM report's Table II network, exactly as printed: Linear, Linear, ReLU, Linear, ReLU, Linear, ReLU, Linear.

    As printed, the first two linear layers have NO ReLU between them (their composition is one linear map, but
    the parameterisation, which is what ASAM's scale invariance is about, is kept as published).
    """
    w = width
    return nn.Sequential(nn.Linear(in_features, w), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
                         nn.Linear(w, w), nn.ReLU(), nn.Linear(w, num_classes))
