"""The networks the experiments train, behind one registry: :func:`create_model`.

* :mod:`~samlab.models.cifar`: ResNet-18/34/50 (CIFAR stem), ResNet-20/32, VGG-13-BN, MobileNetV2, DenseNet-40,
  WRN-28-10 and a small CPU CNN (3x32x32 images);
* :mod:`~samlab.models.mnist1d`: the MNIST-1D paper's MLP, CNN and GRU, plus a BatchNorm CNN (signals);
* :mod:`~samlab.models.toy`: the ASAM report's Table II MLP (2-D points).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

import torch
from torch import nn

from ..checks import check_choice, check_int
from .cifar import (VGG, BasicBlock, Bottleneck, DenseNet, MobileNetV2, ResNet, SmallCNN, WideResNet, densenet40,
                    mobilenetv2, resnet18, resnet20, resnet32, resnet34, resnet50, small_cnn, vgg13_bn, wrn28_10)
from .mnist1d import (MNIST1D_MODELS, Mnist1dCNN, Mnist1dGRU, Mnist1dMLP, mnist1d_cnn, mnist1d_cnn_bn, mnist1d_gru,
                      mnist1d_mlp)
from .toy import table2_mlp

__all__ = [
    "MODELS", "create_model", "model_names", "ResNet", "BasicBlock", "Bottleneck", "VGG", "MobileNetV2", "DenseNet",
    "WideResNet", "SmallCNN", "resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "vgg13_bn", "mobilenetv2",
    "densenet40", "wrn28_10", "small_cnn", "table2_mlp",
    "MNIST1D_MODELS", "Mnist1dMLP", "Mnist1dCNN", "Mnist1dGRU", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_cnn_bn", "mnist1d_gru",
]


# --------------------------------------------------------------------------------------------- registry
#: The one registry: name -> builder taking ``num_classes`` (and model-specific keywords). Read-only.
MODELS: Mapping[str, Callable[..., nn.Module]] = MappingProxyType({
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet20": resnet20, "resnet32": resnet32,
    "vgg13_bn": vgg13_bn, "mobilenetv2": mobilenetv2, "densenet40": densenet40, "wrn28_10": wrn28_10,
    "small_cnn": small_cnn, "table2_mlp": table2_mlp,
    "mnist1d_mlp": mnist1d_mlp, "mnist1d_cnn": mnist1d_cnn, "mnist1d_cnn_bn": mnist1d_cnn_bn, "mnist1d_gru": mnist1d_gru,
})


def model_names() -> tuple[str, ...]:
    """The names :func:`create_model` accepts."""
    return tuple(MODELS)


def create_model(name: str, num_classes: int | None = None, *, seed: int | None = None, **kwargs) -> nn.Module:
    """Build a registered network; ``num_classes=None`` keeps its own default (10, or 2 for ``table2_mlp``).

    Initialisation can only draw from torch's global RNG. With ``seed`` it runs inside
    ``torch.random.fork_rng()`` with the CPU generator seeded from ``seed``: the weights depend on ``seed`` alone
    (the same as ``torch.manual_seed(seed)`` then this call) and the caller's global RNG state is left untouched.
    Without ``seed`` it draws from the global RNG as it stands (the trainer seeds a forked one itself).
    """
    check_choice("name", name, MODELS)
    if num_classes is not None:
        kwargs["num_classes"] = check_int("num_classes", num_classes, low=1)
    if seed is None:
        return MODELS[name](**kwargs)
    seed = check_int("seed", seed, low=0)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return MODELS[name](**kwargs)
