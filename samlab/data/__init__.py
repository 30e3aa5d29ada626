"""Data sets: CIFAR-10/100 with an offline fallback (``images``), MNIST-1D (``mnist1d``), the 2-D variance data set
(``variance2d``); ``splits`` holds what every loaded data set shares."""
from __future__ import annotations

from .images import *  # noqa: F401,F403
from .images import __all__ as _images_all
from .variance2d import *  # noqa: F401,F403
from .variance2d import __all__ as _variance_all
from .mnist1d import *  # noqa: F401,F403
from .mnist1d import __all__ as _mnist1d_all
from .splits import SPLITS, Splits  # noqa: F401

__all__ = [*_images_all, *_variance_all, *_mnist1d_all, "SPLITS", "Splits"]
