"""The MNIST-1D baselines (Greydanus and Kobak 2024): signals ``(N, 1, 40)`` instead of images."""
from __future__ import annotations

import torch
from torch import nn

from ..checks import check_int

__all__ = ["MNIST1D_MODELS", "Mnist1dMLP", "Mnist1dCNN", "Mnist1dGRU", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_cnn_bn",
           "mnist1d_gru"]


# --------------------------------------------------------------------------------------------- MNIST-1D baselines
#: The networks that take MNIST-1D signals ``(N, 1, 40)`` (or ``(N, 40)``) instead of 3x32x32 images.
MNIST1D_MODELS = ("mnist1d_mlp", "mnist1d_cnn", "mnist1d_cnn_bn", "mnist1d_gru")


def _as_signal(x: torch.Tensor) -> torch.Tensor:
    """``(N, L)`` or ``(N, 1, L)`` -> ``(N, 1, L)``."""
    return x.unsqueeze(1) if x.dim() == 2 else x


class Mnist1dMLP(nn.Module):
    """MNIST-1D's MLP baseline (the authors' ``MLPBase``): 40-100-100-10 with a residual second layer, 15,210 params.

    ``h = relu(W1 x); h = h + relu(W2 h); logits = W3 h``; PyTorch's default initialisation, as the authors'.
    """

    def __init__(self, num_classes: int = 10, length: int = 40, hidden: int = 100):
        super().__init__()
        check_int("hidden", hidden, low=1)
        self.linear1 = nn.Linear(check_int("length", length, low=1), hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x.flatten(1)).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


class Mnist1dCNN(nn.Module):
    """MNIST-1D's CNN baseline (the authors' ``ConvBase``): three strided Conv1d + ReLU, flatten, linear; 5,210 params.

    Conv1d(1, 25, 5, stride 2, pad 1) -> (25, 3, 2, 1) -> (25, 3, 2, 1): length 40 -> 19 -> 10 -> 5, then a linear
    layer on the 125 flattened features. ``batch_norm=True`` is samlab's variant (not in the paper): each conv
    loses its bias and is followed by BatchNorm1d, so AdaBS has statistics to re-estimate.
    """

    def __init__(self, num_classes: int = 10, length: int = 40, channels: int = 25, batch_norm: bool = False):
        super().__init__()
        c = check_int("channels", channels, low=1)
        check_int("length", length, low=1)

        def block(cin: int, kernel: int) -> list[nn.Module]:
            conv = nn.Conv1d(cin, c, kernel, stride=2, padding=1, bias=not batch_norm)
            return [conv, nn.BatchNorm1d(c), nn.ReLU()] if batch_norm else [conv, nn.ReLU()]

        self.features = nn.Sequential(*block(1, 5), *block(c, 3), *block(c, 3))
        n = length
        for kernel in (5, 3, 3):
            n = (n + 2 - kernel) // 2 + 1
        self.linear = nn.Linear(c * n, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(_as_signal(x)).flatten(1))


class Mnist1dGRU(nn.Module):
    """MNIST-1D's GRU baseline (the authors' ``GRUBase``): bidirectional GRU, hidden 6, linear on all 40 steps; 5,134 params."""

    def __init__(self, num_classes: int = 10, length: int = 40, hidden: int = 6, bidirectional: bool = True):
        super().__init__()
        self.gru = nn.GRU(1, check_int("hidden", hidden, low=1), batch_first=True, bidirectional=bidirectional)
        self.linear = nn.Linear((2 if bidirectional else 1) * hidden * check_int("length", length, low=1),
                                num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(_as_signal(x).transpose(1, 2))  # (N, L, 1): one feature per time step; h0 = 0
        return self.linear(out.flatten(1))


def mnist1d_mlp(num_classes: int = 10, hidden: int = 100) -> Mnist1dMLP:
    """The MNIST-1D paper's MLP (hidden 100)."""
    return Mnist1dMLP(num_classes, hidden=hidden)


def mnist1d_cnn(num_classes: int = 10, channels: int = 25) -> Mnist1dCNN:
    """The MNIST-1D paper's CNN (25 channels)."""
    return Mnist1dCNN(num_classes, channels=channels)


def mnist1d_cnn_bn(num_classes: int = 10, channels: int = 25) -> Mnist1dCNN:
    """The MNIST-1D CNN with BatchNorm after each convolution (samlab's variant, for AdaBS)."""
    return Mnist1dCNN(num_classes, channels=channels, batch_norm=True)


def mnist1d_gru(num_classes: int = 10, hidden: int = 6) -> Mnist1dGRU:
    """The MNIST-1D paper's bidirectional GRU (hidden 6)."""
    return Mnist1dGRU(num_classes, hidden=hidden)
