"""CIFAR networks (3x32x32 input): ResNet-18/34/50 (CIFAR stem), ResNet-20/32 (He et al. 2016, Sec. 4.2), VGG-13-BN,
MobileNetV2, DenseNet-40 (k=12), Wide ResNets (WRN-28-10 by default) and a small CPU CNN."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_int

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "VGG", "MobileNetV2", "DenseNet", "WideResNet", "SmallCNN",
           "resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "vgg13_bn", "mobilenetv2", "densenet40",
           "wrn28_10", "small_cnn"]


def _init_weights(model: nn.Module) -> nn.Module:
    """He (fan-out) init for convolutions, BN to identity; linear layers keep PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


# --------------------------------------------------------------------------------------------- ResNets
class _ZeroPadShortcut(nn.Module):
    """He et al.'s option-A shortcut: subsample, then zero-pad the new channels (no parameters)."""

    def __init__(self, cout: int, stride: int):
        super().__init__()
        self.cout, self.stride = cout, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.cout - x.shape[1]))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut: a 1x1 conv-BN projection (``"B"``) or zero padding (``"A"``)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, planes, 3, stride), nn.ReLU(inplace=True), *_conv_bn(planes, planes))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != planes:
            self.shortcut = (_ZeroPadShortcut(planes, stride) if shortcut == "A"
                             else nn.Sequential(*_conv_bn(cin, planes, 1, stride)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a projection shortcut when the shape changes (ResNet-50)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        cout = planes * self.expansion
        self.body = nn.Sequential(*_conv_bn(cin, planes, 1), nn.ReLU(inplace=True),
                                  *_conv_bn(planes, planes, 3, stride), nn.ReLU(inplace=True),
                                  *_conv_bn(planes, cout, 1))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(*_conv_bn(cin, cout, 1, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR ResNet: 3x3 stride-1 stem (no max-pool), stages of ``blocks`` at ``widths``, global pool, linear."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], blocks: Sequence[int], widths: Sequence[int],
                 num_classes: int = 10, shortcut: str = "B"):
        super().__init__()
        check_choice("shortcut", shortcut, ("A", "B"))
        layers: list[nn.Module] = [*_conv_bn(3, widths[0]), nn.ReLU(inplace=True)]
        cin = widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths)):
            for j in range(n):
                layers.append(block(cin, width, 2 if (i > 0 and j == 0) else 1, shortcut))
                cin = width * block.expansion
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def resnet18(num_classes: int = 10) -> ResNet:
    """ResNet-18 with the CIFAR stem (11.2M parameters for 10 classes)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), num_classes)


def resnet34(num_classes: int = 10) -> ResNet:
    """ResNet-34 with the CIFAR stem (21.3M parameters)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), (64, 128, 256, 512), num_classes)


def resnet50(num_classes: int = 10) -> ResNet:
    """ResNet-50 (bottleneck blocks) with the CIFAR stem (23.5M parameters)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512), num_classes)


def resnet20(num_classes: int = 10) -> ResNet:
    """He et al.'s 3-stage CIFAR ResNet-20 (16/32/64 channels, option-A shortcuts, 0.27M parameters)."""
    return ResNet(BasicBlock, (3, 3, 3), (16, 32, 64), num_classes, shortcut="A")


def resnet32(num_classes: int = 10) -> ResNet:
    """He et al.'s 3-stage CIFAR ResNet-32 (0.46M parameters)."""
    return ResNet(BasicBlock, (5, 5, 5), (16, 32, 64), num_classes, shortcut="A")


# --------------------------------------------------------------------------------------------- Wide ResNets
class _WideBlock(nn.Module):
    """Pre-activation block of Zagoruyko & Komodakis: BN-ReLU-conv3x3, (dropout), BN-ReLU-conv3x3."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if (stride != 1 or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(out)))))
        return out + skip


class WideResNet(nn.Module):
    """WRN-``depth``-``width`` for CIFAR: 3 groups of (depth-4)/6 wide blocks at 16k/32k/64k channels."""

    def __init__(self, depth: int = 28, width: int = 10, num_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"depth={depth!r} is not allowed; a WRN needs depth = 6n + 4 (10, 16, 22, 28, 40, ...)")
        check_int("width", width, low=1)
        n, widths = (depth - 4) // 6, (16 * width, 32 * width, 64 * width)
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)]
        cin = 16
        for i, cout in enumerate(widths):
            for j in range(n):
                layers.append(_WideBlock(cin, cout, 2 if (i > 0 and j == 0) else 1, dropout))
                cin = cout
        layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def wrn28_10(num_classes: int = 10, depth: int = 28, width: int = 10, dropout: float = 0.0) -> WideResNet:
    """WRN-28-10 (36.5M parameters); ``depth``/``width`` give the other WRNs (WRN-16-2 for quick tests)."""
    return WideResNet(depth, width, num_classes, dropout)


# --------------------------------------------------------------------------------------------- VGG
_VGG13 = (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    """VGG with BatchNorm for CIFAR: conv3x3-BN-ReLU stacks and max-pools down to 1x1, then one linear layer."""

    def __init__(self, config: Sequence[int | str] = _VGG13, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [*_conv_bn(cin, int(v)), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def vgg13_bn(num_classes: int = 10) -> VGG:
    """VGG-13 with BatchNorm, CIFAR head (9.4M parameters)."""
    return VGG(_VGG13, num_classes)


# --------------------------------------------------------------------------------------------- MobileNetV2
class _InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped when t=1), 3x3 depthwise, 1x1 linear projection; residual if shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = [] if expand == 1 else [*_conv_bn(cin, hidden, 1), nn.ReLU6(inplace=True)]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(inplace=True),
                   *_conv_bn(hidden, cout, 1)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 for CIFAR: stride-1 stem and stride 1 in the second stage, so 32x32 ends at 4x4 (2.2M parameters)."""

    # (expansion t, channels c, repeats n, stride s) of Sandler et al. Table 2, second stage's stride 2 -> 1.
    STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [*_conv_bn(3, 32), nn.ReLU6(inplace=True)]
        cin = 32
        for t, c, n, s in self.STAGES:
            for j in range(n):
                layers.append(_InvertedResidual(cin, c, s if j == 0 else 1, t))
                cin = c
        layers += [*_conv_bn(cin, 1280, 1), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(1280, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)))


def mobilenetv2(num_classes: int = 10) -> MobileNetV2:
    """MobileNetV2, CIFAR variant."""
    return MobileNetV2(num_classes)


# --------------------------------------------------------------------------------------------- DenseNet
class _DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 producing ``growth`` new feature maps, concatenated to its input."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.bn, self.conv = nn.BatchNorm2d(cin), nn.Conv2d(cin, growth, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(F.relu(self.bn(x)))], dim=1)


class DenseNet(nn.Module):
    """Huang et al.'s CIFAR DenseNet (no bottleneck, no compression): 16-channel stem, 3 dense blocks, 2 transitions."""

    def __init__(self, depth: int = 40, growth: int = 12, num_classes: int = 10):
        super().__init__()
        if (depth - 4) % 3 or depth < 7:
            raise ValueError(f"depth={depth!r} is not allowed; a DenseNet needs depth = 3n + 4 (40, 100, ...)")
        n = (depth - 4) // 3
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)]
        c = 16
        for block in range(3):
            for _ in range(n):
                layers.append(_DenseLayer(c, growth))
                c += growth
            if block < 2:  # transition: BN-ReLU-conv1x1 (same width) - avg-pool 2
                layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c, 1, bias=False), nn.AvgPool2d(2)]
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def densenet40(num_classes: int = 10, growth: int = 12) -> DenseNet:
    """DenseNet-40 with growth rate k=12 (1.0M parameters)."""
    return DenseNet(40, growth, num_classes)


# --------------------------------------------------------------------------------------------- small nets
class SmallCNN(nn.Module):
    """A fast CPU CNN with BatchNorm: [conv-BN-ReLU-maxpool] x2, conv-BN-ReLU-global-pool, linear."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        check_int("width", width, low=1)
        w = width
        self.features = nn.Sequential(
            *_conv_bn(3, w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            *_conv_bn(w, 2 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            *_conv_bn(2 * w, 4 * w), nn.ReLU(inplace=True))
        self.fc = nn.Linear(4 * w, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def small_cnn(num_classes: int = 10, width: int = 32) -> SmallCNN:
    """The small CNN for CPU runs (conv widths ``width``, 2x, 4x)."""
    return SmallCNN(num_classes, width)

