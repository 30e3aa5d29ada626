"""Conductance noise of analog hardware (SAMSON eq. 7-8) and Monte-Carlo accuracy curves, with AdaBS.

The noise model (SAMSON sec. 6, eq. 7-8, after Joshi et al. 2020). Every Conv/Linear weight ``W_ij`` of layer
``l`` is stored on a differential pair of devices whose conductances range over ``[0, G_max]``; the layer's
largest absolute weight ``W_max`` maps to ``G_max``. The ideal conductance of the device that carries the
weight (the ``+`` device when ``W_ij > 0``, the ``-`` device when ``W_ij < 0``; the other stays at 0) is ::

    G_T = |W_ij| / W_max * G_max                                          (eq. 7)

and the programmed (or read, or drifted) conductance is ``G = G_T * delta_ij`` with ``delta_ij ~ N(1, sigma_c^2)``
(eq. 8), independent per weight. Reading the weight back through the same linear map, ::

    W'_ij = sign(W_ij) * G * W_max / G_max = sign(W_ij) * |W_ij| * delta_ij = W_ij * delta_ij,

so ``G_max`` and ``W_max`` cancel: the noise is multiplicative, ``W' = W * delta``, whatever the device range
(an all-zero layer stays zero, as its conductances are 0). ``delta`` is not clipped at 0 (eq. 8 as published;
at sigma_c = 0.4 about 0.6 % of the deltas are negative). Biases and BatchNorm stay digital (noise-free).
``sigma_c = 0`` is the paper's noiseless special case: no noise is applied and the weights stay bitwise equal.

Monte Carlo with common random numbers: draw ``k`` of every curve uses the same standard-normal field ``z_k``
(one tensor per Conv/Linear weight, seeded from ``(seed, k, layer index, layer shape)`` through its own
``torch.Generator``, never torch's global RNG), scaled as ``delta = 1 + sigma_c * z_k``. Curves of different
sigma_c and of different models with the same architecture then differ only through sigma_c and the weights,
not through the luck of the draw, and the same seed gives the same numbers (fields are drawn on the CPU).

AdaBS (Joshi et al.; SAMSON sec. 6.1, applied to every network in the paper): for each draw, every BatchNorm's
running mean and variance are re-estimated on the calibration split with the noisy weights, then the test set
is evaluated; the statistics are put back exactly afterwards. A draw costs one evaluation (plus one
calibration pass with AdaBS); weights are changed in place through :func:`samlab.weights.perturbed` (no model
copy) and restored exactly, also when the evaluation raises.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from .batchnorm import batchnorm_modules, frozen_statistics, reestimate_statistics
from .checks import check_int, check_number
from .data import batch_iterator
from .evaluate import evaluate
from .weights import conv_linear_weights, perturbed

__all__ = ["DEFAULT_SIGMAS", "NoiseCurveSpec", "noise_fields", "noisy_weights", "conductance_noise",
           "noise_curve", "robustness_gap", "CalibratedCleanSpec", "calibrated_clean"]

#: Conductance variations evaluated by default: the noiseless case up to sigma_c = 0.4, the highest level of
#: SAMSON Fig. 2 and the end point of its robustness gap (sec. 6.3).
DEFAULT_SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.4)


# ------------------------------------------------------------------------------------------------ the noise
def _weights(model: nn.Module) -> list[nn.Parameter]:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} must be a torch.nn.Module")
    weights = conv_linear_weights(model)
    if not weights:
        raise ValueError(f"model={type(model).__name__} has no Conv/Linear weight: conductance noise (eq. 7-8) "
                         "acts on the weights of Conv1d/2d/3d and Linear layers only")
    return weights


def _check_sigma(name: str, sigma: Any) -> float:
    return check_number(name, sigma, low=0.0) + 0.0  # + 0.0 turns -0.0 into 0.0


def _field_seed(seed: int, draw: int, index: int, shape: Sequence[int]) -> int:
    text = f"samlab.noise:{seed}:{draw}:{index}:{tuple(shape)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def noise_fields(model: nn.Module | Sequence[Tensor], *, seed: int = 0, draw: int = 0) -> list[Tensor]:
    """The standard-normal fields ``z_draw`` of a model's Conv/Linear weights (float32, CPU), one per weight.

    Layer ``i``'s field depends only on ``(seed, draw, i, shape of weight i)``: the same for every sigma_c and for
    every model of the same architecture (common random numbers). ``model`` may also be the weight list.
    """
    seed = check_int("seed", seed, low=0)
    draw = check_int("draw", draw, low=0)
    weights = _weights(model) if isinstance(model, nn.Module) else list(model)
    out = []
    for i, w in enumerate(weights):
        gen = torch.Generator().manual_seed(_field_seed(seed, draw, i, w.shape))
        out.append(torch.randn(tuple(w.shape), generator=gen, dtype=torch.float32))
    return out


def _deltas(weights: Sequence[Tensor], sigma: float, fields: Sequence[Tensor]) -> list[Tensor]:
    """``delta = 1 + sigma * z`` on each weight's device and dtype (eq. 8 with the draw's field)."""
    fields = list(fields)
    if len(fields) != len(weights):
        raise ValueError(f"fields must have one tensor per Conv/Linear weight ({len(weights)}), got {len(fields)}")
    out = []
    for i, (w, z) in enumerate(zip(weights, fields)):
        if tuple(z.shape) != tuple(w.shape):
            raise ValueError(f"fields[{i}] has shape {tuple(z.shape)} but weight {i} has {tuple(w.shape)}")
        out.append(z.to(device=w.device, dtype=w.dtype).mul(sigma).add_(1.0))
    return out


def noisy_weights(weights: Sequence[Tensor], sigma: float, fields: Sequence[Tensor]) -> list[Tensor]:
    """The weights read back from noisy conductances, ``W' = W * (1 + sigma * z)`` (eq. 7-8): new tensors."""
    sigma = _check_sigma("sigma", sigma)
    weights = list(weights)
    with torch.no_grad():
        if sigma == 0.0:
            return [w.detach().clone() for w in weights]
        return [w.detach() * d for w, d in zip(weights, _deltas(weights, sigma, fields))]


@contextlib.contextmanager
def conductance_noise(model: nn.Module, sigma: float, *, seed: int = 0, draw: int = 0,
                      fields: Sequence[Tensor] | None = None) -> Iterator[nn.Module]:
    """Within the block every Conv/Linear weight of ``model`` is ``W * (1 + sigma * z_draw)`` (eq. 7-8).

    ``fields`` overrides the seeded fields of :func:`noise_fields`. On exit the exact weights return, also when
    the block raises (:func:`samlab.weights.perturbed`, ``mode="mul"``). ``sigma = 0`` changes nothing.
    """
    sigma = _check_sigma("sigma", sigma)
    weights = _weights(model)
    if sigma == 0.0:
        yield model
        return
    if fields is None:
        fields = noise_fields(weights, seed=seed, draw=draw)
    with perturbed(weights, _deltas(weights, sigma, fields), mode="mul"):
        yield model


# ------------------------------------------------------------------------------------------------ the curve
@dataclass(frozen=True)
class NoiseCurveSpec:
    """One Monte-Carlo noise curve of a model (:func:`noise_curve`; of a stored run:
    :meth:`samlab.runs.RunStore.measure`, stored in the run's folder keyed by this spec).

    ``sigmas`` the conductance variations sigma_c; ``draws`` the noise draws per sigma_c (10 in the paper on CIFAR);
    ``adabs`` re-estimates BN statistics per draw on the first ``calib_samples`` calibration images (None: all of them);
    ``seed`` picks the noise fields; ``batch_size`` is the evaluation batch size.
    """

    sigmas: tuple[float, ...] = DEFAULT_SIGMAS
    draws: int = 10
    adabs: bool = True
    calib_samples: int | None = None
    seed: int = 0
    batch_size: int = 500

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        if isinstance(self.sigmas, (str, bytes)) or not isinstance(self.sigmas, Sequence) or not self.sigmas:
            raise ValueError(f"sigmas={self.sigmas!r} must be a non-empty sequence of numbers >= 0")
        sigmas = tuple(_check_sigma("sigmas", x) for x in self.sigmas)
        if len(set(sigmas)) != len(sigmas):
            raise ValueError(f"sigmas={self.sigmas!r} must be distinct")
        s("sigmas", sigmas)
        s("draws", check_int("draws", self.draws, low=1))
        if not isinstance(self.adabs, bool):
            raise ValueError(f"adabs={self.adabs!r} must be True or False")
        s("calib_samples", check_int("calib_samples", self.calib_samples, low=1, optional=True))
        s("seed", check_int("seed", self.seed, low=0))
        s("batch_size", check_int("batch_size", self.batch_size, low=1))

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = True) -> dict[str, Any]:
        """:func:`noise_curve` of ``model`` on ``data`` with this spec."""
        return noise_curve(model, data, self, device=device, progress=progress)


def _get(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        if name not in data:
            raise ValueError(f"data has no {name!r}: pass an ImageData or a mapping with test_x, test_y, calib_x, "
                             "mean and std")
        return data[name]
    if not hasattr(data, name):
        raise ValueError(f"data={type(data).__name__} has no {name!r}: pass an ImageData or a mapping with "
                         "test_x, test_y, calib_x, mean and std")
    return getattr(data, name)


def _stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def noise_curve(model: nn.Module, data: Any, spec: NoiseCurveSpec, *, device: torch.device | str | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Test accuracy of ``model`` under conductance noise: mean, std and every draw, per sigma_c of ``spec``.

    ``data`` is an :class:`~samlab.data.ImageData` (or a mapping) with uint8 ``test_x``/``test_y``, ``calib_x``
    and ``mean``/``std``. For each draw k and each sigma_c > 0 the weights become ``W * (1 + sigma_c z_k)``,
    AdaBS re-estimates the BN statistics on the calibration images (``spec.adabs``; a model without BN skips
    it), the test set is evaluated, and weights and BN statistics are restored exactly. sigma_c = 0 is the
    clean model (no noise, no AdaBS: the clean accuracy exactly), evaluated once and the same for every draw.
    Draw-major order, so the fields of a draw are drawn once for all sigma_c. Std: sample std over draws.
    """
    if not isinstance(spec, NoiseCurveSpec):
        raise ValueError(f"spec must be a NoiseCurveSpec, got {type(spec).__name__}")
    weights = _weights(model)
    test_x, test_y = _get(data, "test_x"), _get(data, "test_y")
    mean, std = _get(data, "mean"), _get(data, "std")
    if len(test_y) == 0:
        raise ValueError("data.test_y is empty: there is nothing to evaluate")
    n_calib = 0
    calib_x = None
    if spec.adabs:
        calib_x = _get(data, "calib_x")
        if len(calib_x) == 0:
            raise ValueError("data.calib_x is empty: AdaBS (adabs=True) needs calibration images; pass data with a "
                             "calibration split or adabs=False")
        n_calib = len(calib_x) if spec.calib_samples is None else spec.calib_samples
        if n_calib > len(calib_x):
            raise ValueError(f"calib_samples={spec.calib_samples} exceeds the {len(calib_x)} calibration images "
                             "of data.calib_x")
        calib_x = calib_x[:n_calib]
    use_adabs = spec.adabs and bool(batchnorm_modules(model))
    device = torch.device(device) if device is not None else weights[0].device

    def run() -> tuple[float, float]:
        return evaluate(model, test_x, test_y, mean=mean, std=std, batch_size=spec.batch_size, device=device)

    def calibrate() -> None:
        dummy = torch.zeros(len(calib_x), dtype=torch.int64)
        batches = batch_iterator(calib_x)(calib_x, dummy, spec.batch_size, train=False, mean=mean, std=std,
                                          device=device)
        reestimate_statistics(model, batches)

    clean = run() if 0.0 in spec.sigmas else None
    noisy = [x for x in spec.sigmas if x > 0.0]
    per: dict[float, list[tuple[float, float]]] = {x: [] for x in noisy}
    bar = None
    if progress and noisy:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.draws * len(noisy), desc="conductance noise", unit="eval")
    try:
        for k in range(spec.draws):
            fields = [z.to(device=w.device, dtype=w.dtype)   # once per draw, shared by every sigma_c
                      for z, w in zip(noise_fields(weights, seed=spec.seed, draw=k), weights)]
            for sigma in noisy:
                with conductance_noise(model, sigma, fields=fields), frozen_statistics(model):
                    if use_adabs:
                        calibrate()
                    per[sigma].append(run())
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(sigma=sigma, draw=k)
    finally:
        if bar is not None:
            bar.close()
    losses, accs = [], []
    for sigma in spec.sigmas:
        rows = [clean] * spec.draws if sigma == 0.0 else per[sigma]
        losses.append([r[0] for r in rows])
        accs.append([r[1] for r in rows])
    return {
        "sigmas": list(spec.sigmas), "mean_acc": [statistics.fmean(a) for a in accs],
        "std_acc": [_stdev(a) for a in accs], "accs": accs,
        "mean_loss": [statistics.fmean(v) for v in losses], "std_loss": [_stdev(v) for v in losses],
        "losses": losses, "draws": spec.draws, "seed": spec.seed, "adabs": spec.adabs,
        "adabs_applied": use_adabs, "n_calib": n_calib if use_adabs else 0, "n_test": len(test_y),
    }


def _index(sigmas: Sequence[float], sigma: float, name: str) -> int:
    for i, x in enumerate(sigmas):
        if math.isclose(x, sigma, rel_tol=1e-9, abs_tol=1e-12):
            return i
    raise ValueError(f"{name}={sigma!r} is not one of the curve's sigmas {list(sigmas)}")


def robustness_gap(curve: Mapping[str, Any], low: float = 0.0, high: float = 0.4, *,
                   clean: Mapping[str, Any] | None = None) -> tuple[float, float]:
    """Accuracy at sigma_c = ``low`` minus at ``high`` (SAMSON sec. 6.3's robustness) and its std over draws.

    The gap is taken draw by draw (common random numbers pair the draws) and then averaged; the std is the
    sample std of the per-draw gaps. ``clean``: a :func:`calibrated_clean` result (of the same model, with the
    curve's calibration split); the gap then starts from the AdaBS-calibrated clean accuracy instead of the
    accuracy at ``low`` (``low`` must be 0), so both ends of the gap went through AdaBS and the gap is what the
    noise costs, not what noise and the re-estimated statistics cost together.
    """
    low, high = _check_sigma("low", low), _check_sigma("high", high)
    i, j = _index(curve["sigmas"], low, "low"), _index(curve["sigmas"], high, "high")
    if clean is not None:
        if low != 0.0:
            raise ValueError(f"low={low!r}: a calibrated clean accuracy replaces the sigma_c = 0 end only")
        if not curve.get("adabs_applied", False):
            raise ValueError("clean= given for a curve without AdaBS: its noisy points kept the training statistics, "
                             "so the uncalibrated accuracy at sigma_c = 0 is already the matching clean end")
        gaps = [clean["accuracy"] - b for b in curve["accs"][j]]
    else:
        gaps = [a - b for a, b in zip(curve["accs"][i], curve["accs"][j])]
    return statistics.fmean(gaps), _stdev(gaps)


@dataclass(frozen=True)
class CalibratedCleanSpec:
    """The clean network's test accuracy after AdaBS (:func:`calibrated_clean`): the sigma_c = 0 end of a gap whose
    noisy end was AdaBS-calibrated. A spec of its own (stored in the run's folder beside the noise curve), so the
    stored curves keep their keys. ``calib_samples`` and ``batch_size`` as in :class:`NoiseCurveSpec` (use the
    curve's values)."""

    calib_samples: int | None = None
    batch_size: int = 500

    def __post_init__(self) -> None:
        object.__setattr__(self, "calib_samples", check_int("calib_samples", self.calib_samples, low=1, optional=True))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, low=1))

    def compute(self, model: nn.Module, data: Any, *, device: torch.device | str | None = None,
                progress: bool = False) -> dict[str, Any]:
        """:func:`calibrated_clean` of ``model`` on ``data`` with this spec."""
        return calibrated_clean(model, data, self, device=device)


def calibrated_clean(model: nn.Module, data: Any, spec: CalibratedCleanSpec = CalibratedCleanSpec(), *,
                     device: torch.device | str | None = None) -> dict[str, Any]:
    """Test loss and accuracy of the noise-free ``model`` with its BatchNorm statistics re-estimated on the first
    ``spec.calib_samples`` calibration images (AdaBS without noise; the statistics are put back exactly), and the
    uncalibrated ``accuracy_training_stats`` beside it. A model without BatchNorm: both are the same evaluation."""
    if not isinstance(spec, CalibratedCleanSpec):
        raise ValueError(f"spec must be a CalibratedCleanSpec, got {type(spec).__name__}")
    weights = _weights(model)
    test_x, test_y = _get(data, "test_x"), _get(data, "test_y")
    mean, std = _get(data, "mean"), _get(data, "std")
    device = torch.device(device) if device is not None else weights[0].device
    run = lambda: evaluate(model, test_x, test_y, mean=mean, std=std, batch_size=spec.batch_size,  # noqa: E731
                           device=device)
    before = run()
    has_bn = bool(batchnorm_modules(model))
    n_calib = 0
    after = before
    if has_bn:
        calib_x = _get(data, "calib_x")
        n_calib = len(calib_x) if spec.calib_samples is None else spec.calib_samples
        if len(calib_x) == 0 or n_calib > len(calib_x):
            raise ValueError(f"calib_samples={spec.calib_samples}: data.calib_x holds {len(calib_x)} images")
        calib_x = calib_x[:n_calib]
        with frozen_statistics(model):
            dummy = torch.zeros(len(calib_x), dtype=torch.int64)
            reestimate_statistics(model, batch_iterator(calib_x)(calib_x, dummy, spec.batch_size, train=False,
                                                                 mean=mean, std=std, device=device))
            after = run()
    return {"loss": after[0], "accuracy": after[1], "loss_training_stats": before[0],
            "accuracy_training_stats": before[1], "adabs_applied": has_bn, "n_calib": n_calib, "n_test": len(test_y)}
