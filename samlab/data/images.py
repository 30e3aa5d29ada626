"""Image data: CIFAR-10/100 in torchvision's on-disk format, an offline digits fallback, batched on-device augmentation.

Images stay uint8 ``(N, 3, 32, 32)`` in memory; :func:`iterate_batches` shuffles with a seeded generator, moves each
batch to the training device, augments it there with tensor ops (random crop with padding, horizontal flip) and
normalises it, so no per-image PIL work happens in the training loop.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_choice, check_number
from ..paths import data_dir
from .splits import Splits

__all__ = [
    "IMAGE_DATASETS", "CIFAR_STATS", "ImageData", "load_image_dataset", "load_training_data", "download_dataset",
    "dataset_available", "available_dataset", "subset", "clear_dataset_cache",
    "iterate_batches", "normalize", "augment_batch", "random_crop", "random_flip",
]

#: The names :func:`load_image_dataset` accepts.
IMAGE_DATASETS = ("cifar10", "cifar100", "digits")

#: The usual per-channel mean and std of the CIFAR training sets (pixels scaled to [0, 1]).
CIFAR_STATS = MappingProxyType({
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
})

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0  # the digits train/test split never moves, whatever ``seed`` is


@dataclass(frozen=True, repr=False)
class ImageData(Splits):
    """A loaded image data set: uint8 images ``(N, 3, 32, 32)``, int64 labels, and a calibration split cut from train."""

    is_fallback: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"ImageData(name={self.name!r}, is_fallback={self.is_fallback}, num_classes={self.num_classes}, "
                f"train={len(self.train_y)}, calib={len(self.calib_y)}, test={len(self.test_y)})")

    def batches(self, split: str, batch_size: int, *, train: bool, generator: torch.Generator | None = None,
                device: torch.device | str | None = None, augment: bool = True,
                drop_last: bool | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """:func:`iterate_batches` over one split with this data set's mean and std."""
        x, y = self.split(split)
        return iterate_batches(x, y, batch_size, train=train, mean=self.mean, std=self.std, device=device,
                               generator=generator, augment=augment, drop_last=drop_last)


# --------------------------------------------------------------------------------------------- CIFAR on disk
class _UnverifiedMixin:
    """Read torchvision's CIFAR files without the md5 checks (files must still exist): ``verify=False`` only."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / fname).is_file() for fname, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


@functools.cache
def _cifar_class(name: str, verify: bool) -> type:
    """torchvision's CIFAR10/CIFAR100 class (``verify=False``: without the md5 checks, :class:`_UnverifiedMixin`)."""
    from torchvision.datasets import CIFAR10, CIFAR100  # optional dependency: torchvision (the data extra)

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    return cls if verify else type(f"_Unverified{cls.__name__}", (_UnverifiedMixin, cls), {})


def _root(name: str, root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else data_dir() / name


def _cifar_files(cls: type, root: Path) -> list[Path]:
    names = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [root / cls.base_folder / n for n in names]


def _missing_files(cls: type, root: Path) -> list[str]:
    return [f.name for f in _cifar_files(cls, root) if not f.is_file()]


def dataset_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``name`` can be loaded offline: always for digits; for CIFAR when every file is under ``root``.

    The one availability check (the loader and :func:`available_dataset` both use it); md5 sums are not checked.
    """
    check_choice("name", name, IMAGE_DATASETS)
    if name == "digits":
        return True
    try:
        cls = _cifar_class(name, verify=False)
    except ImportError:  # without torchvision (the data extra) CIFAR cannot be read
        return False
    return not _missing_files(cls, _root(name, root))


def available_dataset(name: str = "cifar10", root: str | os.PathLike | None = None) -> str:
    """``name`` when :func:`dataset_available`, else ``"digits"``: what quick-scale runs train on offline."""
    return name if dataset_available(name, root) else "digits"


def _load_cifar(name: str, root: Path, *, download: bool, verify: bool) -> tuple[torch.Tensor, ...]:
    """Train/test images and labels through torchvision's CIFAR classes; raises RuntimeError/OSError when absent."""
    cls = _cifar_class(name, verify)
    if not download and (missing := _missing_files(cls, root)):
        if not (root / cls.base_folder).is_dir():
            raise RuntimeError(f"no {cls.base_folder}/ under {root}")
        raise RuntimeError(f"{root / cls.base_folder} lacks {', '.join(missing)}")
    try:
        train = cls(root=root, train=True, download=download)
        test = cls(root=root, train=False, download=False)
    except RuntimeError as err:
        if verify and not _missing_files(cls, root):
            raise RuntimeError(f"the files under {root / cls.base_folder} fail torchvision's md5 check "
                               "(verify=False reads them anyway)") from err
        raise

    def as_tensors(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW
        return x, torch.as_tensor(ds.targets, dtype=torch.int64)

    return (*as_tensors(train), *as_tensors(test), tuple(train.classes))


def download_dataset(name: str, root: str | os.PathLike | None = None) -> Path:
    """Download a CIFAR data set with torchvision into ``root`` (default ``data_dir()/name``); return its folder."""
    check_choice("name", name, IMAGE_DATASETS)
    if name == "digits":
        import sklearn.datasets  # optional dependency: scikit-learn (the data extra)
        print("digits ship with scikit-learn: nothing to download")
        return Path(sklearn.datasets.__file__).parent / "data"
    root = _root(name, root)
    cls = _cifar_class(name, verify=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(root=root, train=True, download=True)
        cls(root=root, train=False, download=False)
    except (OSError, RuntimeError) as err:
        raise RuntimeError(f"could not download {name} into {root}: {err}. Without a network, samlab uses the "
                           f"offline digits fallback (load_image_dataset({name!r}, allow_fallback=True)); copy "
                           f"{cls.filename} extracted into {root} to use the real data.") from err
    return root / cls.base_folder


# --------------------------------------------------------------------------------------------- digits fallback
def _load_digits() -> tuple[torch.Tensor, ...]:
    """scikit-learn's 1797 8x8 digits as 3x32x32 uint8 (nearest upsampling, 0..16 -> 0..255), fixed stratified split."""
    from sklearn.datasets import load_digits  # optional dependency: scikit-learn (the data extra)
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    img = torch.from_numpy(np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8))  # (N, 8, 8)
    x = img.repeat_interleave(4, dim=1).repeat_interleave(4, dim=2)[:, None].expand(-1, 3, -1, -1).contiguous()
    y = torch.from_numpy(digits.target).to(torch.int64)
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=_DIGITS_TEST_FRACTION,
                                           stratify=digits.target, random_state=_DIGITS_SPLIT_SEED)
    train_idx, test_idx = torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(test_idx))
    classes = tuple(str(c) for c in digits.target_names)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx], classes


def _pixel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1]."""
    xf = x.to(torch.float64).div_(255.0)
    return tuple(xf.mean(dim=(0, 2, 3)).tolist()), tuple(xf.std(dim=(0, 2, 3)).tolist())


# --------------------------------------------------------------------------------------------- loading
def _check_int(name: str, value: object, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(check_number(name, value, low=low))


#: Data sets loaded in this process: (name, root, verify, calibration_size, seed, file stamp) -> ImageData.
_CACHE: dict[tuple, ImageData] = {}


def clear_dataset_cache() -> None:
    """Forget the data sets loaded in this process (the next load reads the files again and says so)."""
    _CACHE.clear()
    _SPLIT_CACHE.clear()


def _cache_key(name: str, root: str | os.PathLike | None, verify: bool, calibration_size: int | None,
               seed: int) -> tuple | None:
    """The cache key of a load, with the CIFAR files' sizes and mtimes (a changed file is read again); None: absent."""
    if name == "digits":
        return (name, None, None, calibration_size, seed, None)
    folder = _root(name, root)
    try:
        stamp = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in _cifar_files(_cifar_class(name, verify), folder))
    except OSError:
        return None
    return (name, str(folder.resolve()), bool(verify), calibration_size, seed, stamp)


def load_image_dataset(name: str = "cifar10", *, root: str | os.PathLike | None = None, allow_fallback: bool = True,
                       download: bool = False, verify: bool = True, calibration_size: int | None = None,
                       seed: int = 0) -> ImageData:
    """Load CIFAR-10/100 (or digits) as uint8 tensors; without the CIFAR files, fall back to digits and say so.

    ``root`` holds ``cifar-10-batches-py/`` or ``cifar-100-python/`` (default ``data_dir()/name``). ``verify=False``
    skips torchvision's md5 checks (for hand-written test files). ``calibration_size`` images (default
    ``min(1000, n_train // 10)``) are cut from the training set with ``seed`` for AdaBS; they are never trained on.

    A data set is read once per process and kept (per name, folder, seed and calibration size; a changed file is read
    again): later calls return the same tensors without printing again. Do not modify them in place.
    """
    check_choice("name", name, IMAGE_DATASETS)
    if calibration_size is not None:
        _check_int("calibration_size", calibration_size, low=0)
    _check_int("seed", seed, low=0)
    key = None if download else _cache_key(name, root, verify, calibration_size, seed)
    if key is not None and key in _CACHE:
        return _CACHE[key]
    data = _load_image_dataset(name, root, allow_fallback=allow_fallback, download=download, verify=verify,
                               calibration_size=calibration_size, seed=seed)
    if key is not None and not data.is_fallback:
        _CACHE[key] = data
    return data


def _load_image_dataset(name: str, root: str | os.PathLike | None, *, allow_fallback: bool, download: bool,
                        verify: bool, calibration_size: int | None, seed: int) -> ImageData:
    is_fallback = False
    if name == "digits":
        *arrays, classes = _load_digits()
        shown = "digits"
    else:
        root = _root(name, root)
        try:
            *arrays, classes = _load_cifar(name, root, download=download, verify=verify)
            shown = name
        except (RuntimeError, OSError) as err:
            if not allow_fallback:
                raise RuntimeError(f"{name} is not available: {err}. Run `python -m samlab data {name}` with a "
                                   "network, or pass allow_fallback=True to use the offline digits.") from err
            *arrays, classes = _load_digits()
            shown, is_fallback = f"digits (offline fallback for {name})", True
            print(f"samlab: {name} not available ({err}); using the OFFLINE FALLBACK instead: scikit-learn digits "
                  f"as 3x32x32 images, 10 classes. Results are NOT {name} results.")
    train_x, train_y, test_x, test_y = arrays
    n_train = len(train_y)
    if calibration_size is None:
        calibration_size = min(1000, n_train // 10)
    check_number("calibration_size", calibration_size, low=0, high=n_train, high_open=True)
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))
    calib_idx, keep_idx = perm[:calibration_size].sort().values, perm[calibration_size:].sort().values
    mean, std = CIFAR_STATS[shown] if shown in CIFAR_STATS else _pixel_stats(train_x)
    data = ImageData(train_x=train_x[keep_idx], train_y=train_y[keep_idx], test_x=test_x, test_y=test_y,
                     calib_x=train_x[calib_idx], calib_y=train_y[calib_idx],
                     num_classes=len(classes), name=shown, is_fallback=is_fallback, mean=mean, std=std,
                     classes=classes)
    if not is_fallback:
        print(f"samlab: loaded {data.name}: {len(data.train_y)} train, {len(data.calib_y)} calibration, "
              f"{len(data.test_y)} test images")
    return data


def subset(x: torch.Tensor, y: torch.Tensor, n: int | None, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of ``n`` samples (drawn with ``seed``), kept in the original order; all when n is None."""
    if n is None or n >= len(y):
        return x, y
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return x[idx], y[idx]


_SPLIT_CACHE: dict[tuple, ImageData] = {}


def load_training_data(name: str, *, max_train_samples: int | None = None,
                       max_test_samples: int | None = None) -> ImageData:
    """The data a training run sees: ``name`` (never a fallback), calibration split cut with seed 0, then fixed
    (seed 0) subsets of ``max_train_samples`` training and ``max_test_samples`` test images.

    The split depends on these arguments only (not on a run's seed), so every run of a protocol trains and tests on
    the same images. Cached per process like :func:`load_image_dataset`.
    """
    try:
        data = load_image_dataset(name, allow_fallback=False, seed=0)
    except RuntimeError as err:
        raise RuntimeError(f"{err} (A TrainConfig never falls back silently: for an offline run use "
                           "dataset='digits', which samlab.data.available_dataset() picks.)") from err
    key = (id(data), max_train_samples, max_test_samples)
    hit = _SPLIT_CACHE.get(key)
    if hit is not None and hit.calib_x is data.calib_x:
        return hit
    train_x, train_y = subset(data.train_x, data.train_y, max_train_samples)
    test_x, test_y = subset(data.test_x, data.test_y, max_test_samples)
    out = dataclasses.replace(data, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
    if len(_SPLIT_CACHE) > 32:
        _SPLIT_CACHE.clear()
    _SPLIT_CACHE[key] = out
    return out


# --------------------------------------------------------------------------------------------- batches
def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images -> float32 ``(x / 255 - mean) / std`` per channel, on ``x``'s device."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return (x.to(torch.float32) / 255.0 - m) / s


def random_crop(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Per-sample random crop of a zero-padded batch: each output is a shifted window of its padded image."""
    b, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator, device=generator.device).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H) row index into the padded image
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * padding))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of the batch left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment_batch(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """The standard CIFAR augmentation on a batch: random crop with ``padding`` then horizontal flip."""
    return random_flip(random_crop(x, generator, padding), generator)


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, train: bool, mean: Sequence[float],
                    std: Sequence[float], device: torch.device | str | None = None,
                    generator: torch.Generator | None = None, augment: bool = True,
                    drop_last: bool | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised float batches on ``device``: shuffled and augmented with ``generator`` when ``train``.

    ``drop_last`` defaults to ``train``. Augmentation draws come from ``generator``, so the same seed gives the same
    batches on CPU. Arguments are checked at once, not at the first ``next()``.
    """
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise ValueError(f"x must be uint8 images (N, C, H, W); got dtype={x.dtype}, shape={tuple(x.shape)}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    batch_size = _check_int("batch_size", batch_size, low=1)
    if train and generator is None:
        raise ValueError("generator=None is not allowed when train=True; pass a seeded torch.Generator")
    device = torch.device(device) if device is not None else x.device
    drop_last = train if drop_last is None else drop_last
    return _batches(x, y, batch_size, train, augment, mean, std, device, generator, drop_last)


def _batches(x, y, batch_size, train, augment, mean, std, device, generator, drop_last):
    n = len(y)
    if train:
        order = torch.randperm(n, generator=generator, device=generator.device)
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        xb = x[idx.to(x.device)].to(device, non_blocking=True)
        yb = y[idx.to(y.device)].to(device, non_blocking=True)
        if train and augment:
            xb = augment_batch(xb, generator)
        yield normalize(xb, mean, std), yb
