"""What every loaded data set shares: its three splits, read by name, and a copy on another device."""
from __future__ import annotations

import dataclasses

import torch

from ..checks import check_choice

__all__ = ["SPLITS", "Splits"]

#: The splits of every data set: training, test, and the calibration split cut from training (AdaBS).
SPLITS = ("train", "test", "calib")


@dataclasses.dataclass(frozen=True, repr=False)
class Splits:
    """What the frozen data-set dataclasses (``ImageData``, ``SignalData``) share: the ``<split>_x/_y`` tensors of
    the three splits, the number of classes and the data set's name; each adds its own fields after these."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    calib_x: torch.Tensor
    calib_y: torch.Tensor
    num_classes: int
    name: str

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(x, y)`` pair of one split: ``"train"``, ``"test"`` or ``"calib"``."""
        check_choice("split", split, SPLITS)
        return getattr(self, f"{split}_x"), getattr(self, f"{split}_y")

    def to(self, device: torch.device | str):
        """A copy with every tensor on ``device`` (images stay uint8, so batches skip the copy)."""
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)
