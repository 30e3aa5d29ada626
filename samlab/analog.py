"""Phase-change-memory (PCM) inference with IBM's aihwkit: accuracy from 1 second to 10 years after programming.

SAMSON sec. 7 / Fig. 5: a trained network is mapped onto PCM crossbars (eq. 7, ONE ``W_max`` per layer: one
tile per layer, never aihwkit's default 512x512 split), programmed once (programming noise, per-device drift
coefficients), then read at time ``t`` after programming (drift ``(t/t0)^-nu`` plus accumulated 1/f read noise,
aihwkit's ``PCMLikeNoiseModel``), with global drift compensation and optionally AdaBS. The paper reports
t = 1 year; :func:`pcm_curve` gives the whole curve over a log-spaced grid of times.

* Converters are ideal by default (``ideal_io=True``: programming, read and drift noise only). That is our
  choice, not the paper's: SAMSON sec. 7.1 says nothing of converters. ``ideal_io=False`` keeps aihwkit's
  default DAC/ADC resolution, bounds and output noise.
* With ideal converters each layer's analog output is exactly ``(W_drifted * scales * alpha) x + b``, so the
  programmed-and-drifted weights are exported into a digital copy of the model and evaluated there (same
  logits to ~1e-7 relative, several times faster on CPU); otherwise the analog model itself is evaluated.
* Every repeat programs afresh from its own seed, and every read time ``t`` draws its read noise from a seed
  of ``(seed, repeat, t)``, so a point of the curve does not depend on the rest of the grid. All draws come
  from torch's RNG inside ``torch.random.fork_rng``: the caller's global RNG is left as it was. (One
  exception: with the compiled tile AND non-ideal converters, the converters' output noise comes from aihwkit's
  C++ generator, which has no seed; such results are marked ``"reproducible": False``.)

aihwkit is imported on first use: ``import samlab.analog`` works without it, and a missing or broken aihwkit
(or compiled tile) raises :class:`AnalogUnavailableError` at call time, saying what to do.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import types
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import nn

from .batchnorm import batchnorm_modules, reestimate_statistics
from .checks import check_choice, check_int, check_number
from .data import batch_iterator
from .evaluate import evaluate
from .weights import conv_linear_weights

__all__ = ["YEAR", "TILES", "DEFAULT_TIMES", "AnalogUnavailableError", "PCMCurveSpec", "pcm_times",
           "pcm_rpu_config", "check_backend", "to_analog", "export_weights", "pcm_curve"]

#: One year in seconds (Julian year), the read time of SAMSON Fig. 5.
YEAR = 365.25 * 24 * 3600.0
#: aihwkit tile kinds: ``"torch"`` (pure-torch TorchInferenceTile, any torch) and ``"compiled"`` (InferenceTile,
#: aihwkit's C++ simulator, built for one torch: aihwkit 1.2.0's runs with torch 2.14-2.15).
TILES = ("torch", "compiled")
_EVAL_BATCH = 500
_CALIB_BATCH = 200


class AnalogUnavailableError(RuntimeError):
    """aihwkit (or the chosen tile kind) cannot be used on this platform; the rest of samlab still works."""


def pcm_times(num: int = 10, *, start: float = 1.0, stop: float = 10 * YEAR,
              include: Iterable[float] = (YEAR,)) -> tuple[float, ...]:
    """``num`` log-spaced read times from ``start`` to ``stop`` seconds after programming, plus ``include``."""
    num = check_int("num", num, low=2)
    start = check_number("start", start, low=0.0, low_open=True)
    stop = check_number("stop", stop, low=start, low_open=True)
    grid = {start * (stop / start) ** (i / (num - 1)) for i in range(num)}
    grid |= {check_number("include", t, low=0.0) for t in include}
    return tuple(sorted(grid))


#: 1 s to 10 years, 10 log-spaced points plus 1 year (SAMSON Fig. 5's time).
DEFAULT_TIMES = pcm_times()


@dataclass(frozen=True)
class PCMCurveSpec:
    """One PCM curve of a model (:func:`pcm_curve`; of a stored run: :meth:`samlab.runs.RunStore.measure`, stored in
    the run's folder keyed by this spec).

    ``times`` are seconds after programming; each of
    ``repeats`` programs the chip afresh. ``calib_samples`` / ``test_samples``: how many images of the
    calibration / test split to use (0: all of it).
    """

    times: tuple[float, ...] = DEFAULT_TIMES
    repeats: int = 10
    adabs: bool = True
    ideal_io: bool = True
    tile: str = "torch"
    seed: int = 0
    calib_samples: int = 0
    test_samples: int = 0

    def __post_init__(self) -> None:
        times = tuple(self.times) if isinstance(self.times, (list, tuple)) else None
        if not times:
            raise ValueError(f"times={self.times!r} must be a non-empty tuple of seconds >= 0")
        times = tuple(check_number(f"times[{i}]", t, low=0.0) for i, t in enumerate(times))
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "repeats", check_int("repeats", self.repeats, low=1))
        for name in ("adabs", "ideal_io"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be True or False")
        check_choice("tile", self.tile, TILES)
        object.__setattr__(self, "seed", check_int("seed", self.seed, low=0))
        object.__setattr__(self, "calib_samples", check_int("calib_samples", self.calib_samples, low=0))
        object.__setattr__(self, "test_samples", check_int("test_samples", self.test_samples, low=0))

    def compute(self, model: nn.Module, data: Any, *, device: str | torch.device | None = None,
                progress: bool = True) -> dict:
        """:func:`pcm_curve` of ``model`` on ``data`` with this spec."""
        return pcm_curve(model, data, self, device=device, progress=progress)


# ------------------------------------------------------------------------------------------ aihwkit access
def _aihwkit() -> Any:
    """The aihwkit pieces samlab uses, imported now; AnalogUnavailableError when they do not import."""
    try:
        import aihwkit
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
        from aihwkit.nn.conversion import convert_to_analog
        from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig
    except (ImportError, OSError) as err:
        raise AnalogUnavailableError(
            f"IBM's aihwkit is not usable here ({type(err).__name__}: {err}). PCM inference needs it: "
            "pip install 'samlab[analog]' (aihwkit 1.2: wheels for Linux x86_64 and macOS arm64, Python 3.12-3.14). "
            "Everything else in samlab works without it.") from err
    return types.SimpleNamespace(version=getattr(aihwkit, "__version__", "?"), Global=GlobalDriftCompensation,
                                 PCM=PCMLikeNoiseModel, convert=convert_to_analog,
                                 configs={"torch": TorchInferenceRPUConfig, "compiled": InferenceRPUConfig})


def pcm_rpu_config(*, ideal_io: bool = True, tile: str = "torch", noise_model: Any = None) -> Any:
    """aihwkit inference config: PCM noise (``noise_model``, default ``PCMLikeNoiseModel()``, g_max 25 uS),
    global drift compensation, one tile per layer (eq. 7's per-layer ``W_max``), ideal converters if asked."""
    check_choice("tile", tile, TILES)
    ak = _aihwkit()
    config = ak.configs[tile]()
    config.mapping.max_input_size = 0
    config.mapping.max_output_size = 0
    config.forward.is_perfect = bool(ideal_io)
    config.noise_model = ak.PCM() if noise_model is None else noise_model
    config.drift_compensation = ak.Global()
    return config


@functools.lru_cache(maxsize=None)
def _probe(tile: str) -> None:
    ak = _aihwkit()
    try:
        with torch.random.fork_rng(devices=[]):
            layer = ak.convert(nn.Linear(3, 2), pcm_rpu_config(tile=tile)).eval()
            layer.program_analog_weights()
            layer.drift_analog_weights(1.0)
            with torch.no_grad():
                out = layer(torch.ones(1, 3))
        if not torch.isfinite(out).all():
            raise RuntimeError(f"non-finite output {out}")
    except Exception as err:  # noqa: BLE001 (an ABI mismatch may surface as any error type)
        hint = (" aihwkit's compiled tile only works with the torch it was built for (aihwkit 1.2.0: torch "
                "2.14-2.15); use tile='torch' (same noise draws, pure torch)." if tile == "compiled" else "")
        raise AnalogUnavailableError(f"aihwkit {ak.version}'s {tile!r} tile does not run with torch "
                                     f"{torch.__version__}: {type(err).__name__}: {err}.{hint}") from err


def check_backend(tile: str = "torch") -> None:
    """Build, program, drift and run a tiny analog layer of kind ``tile``; AnalogUnavailableError if that fails."""
    check_choice("tile", tile, TILES)
    _probe(tile)


# ------------------------------------------------------------------------------------------ model <-> analog
def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} must be a torch.nn.Module")
    if not conv_linear_weights(model):
        raise ValueError(f"model={type(model).__name__} has no Conv1d/2d/3d or Linear layer: nothing to map onto "
                         "PCM crossbars")
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd) and (m.groups != 1 or m.padding_mode != "zeros"):
            raise ValueError(f"model layer {name!r} has groups={m.groups}, padding_mode={m.padding_mode!r}; "
                             "aihwkit maps only ungrouped, zero-padded convolutions")


def to_analog(model: nn.Module, rpu_config: Any) -> nn.Module:
    """An analog copy of ``model`` (``model`` untouched), in eval mode, one aihwkit tile per Conv/Linear layer."""
    _check_model(model)
    ak = _aihwkit()
    with torch.random.fork_rng(devices=[]):  # the new layers' init draws from the global RNG
        analog = ak.convert(copy.deepcopy(model).cpu(), rpu_config).eval()
    layers = list(analog.named_analog_layers())
    tiles = [len(list(layer.analog_tiles())) for _, layer in layers]
    if len(layers) != len(conv_linear_weights(model)) or set(tiles) != {1}:
        raise RuntimeError(f"conversion gave {len(layers)} analog layers with {tiles} tiles for "
                           f"{len(conv_linear_weights(model))} Conv/Linear layers; expected one tile each")
    return analog


def _exportable(analog: nn.Module) -> bool:
    """True when every tile's output is exactly ``(W * scales * alpha) x`` (ideal converters, no input range)."""
    return all(t.rpu_config.forward.is_perfect and getattr(t, "input_range", None) is None
               for t in analog.analog_tiles())


@torch.no_grad()
def export_weights(analog: nn.Module, digital: nn.Module) -> nn.Module:
    """Copy each analog layer's effective weights (programmed-and-drifted conductances times its output scales
    and drift-compensation factor ``alpha``) into the same-named layer of ``digital``; returns ``digital``.

    Exact only with ideal converters (``forward.is_perfect``): then the digital layer computes the analog one.
    """
    if not _exportable(analog):
        raise ValueError("analog has non-ideal converters (or an input range): its outputs are not W x, so its "
                         "weights cannot stand in for it; evaluate the analog model itself")
    modules = dict(digital.named_modules())
    for name, layer in analog.named_analog_layers():
        (tile,) = layer.analog_tiles()
        w, _ = tile.get_weights(apply_weight_scaling=True)
        if getattr(tile.rpu_config, "drift_compensation", None) is not None:
            alpha = tile.alpha.detach().cpu().flatten()
            w = w * (alpha.view(-1, 1) if alpha.numel() > 1 else alpha)
        target = modules[name].weight
        if w.numel() != target.numel():
            raise RuntimeError(f"layer {name!r}: tile weights {tuple(w.shape)} do not fit {tuple(target.shape)}")
        target.copy_(w.reshape(target.shape))
    return digital


# ------------------------------------------------------------------------------------------ the curve
def _seed(*parts: Any) -> int:
    """A 63-bit seed from ``parts`` (stable across runs and platforms)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") & (2**63 - 1)


def _reseed(seed: int, dev: torch.device) -> None:
    """Seed the generator the draws come from (CPU; and ``dev`` if CUDA), not every device's (as manual_seed)."""
    torch.default_generator.manual_seed(seed)
    if dev.type == "cuda":
        with torch.cuda.device(dev):
            torch.cuda.manual_seed(seed)


def _copy_bn_state(src: nn.Module, dst: nn.Module) -> None:
    with torch.no_grad():
        for a, b in zip(batchnorm_modules(src), batchnorm_modules(dst)):
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                if getattr(a, name) is not None:
                    getattr(b, name).copy_(getattr(a, name))


def _check_data(data: Any, spec: PCMCurveSpec) -> tuple[torch.Tensor, ...]:
    for name in ("test_x", "test_y", "calib_x", "calib_y", "mean", "std"):
        if not hasattr(data, name):
            raise ValueError(f"data={data!r} must be an ImageData (missing {name})")
    if len(data.test_y) == 0:
        raise ValueError("data has an empty test split (data.test_x): nothing to evaluate")
    if spec.adabs and len(data.calib_y) == 0:
        raise ValueError("data has an empty calibration split (data.calib_x); AdaBS (adabs=True) needs calibration "
                         "images: load the data with calibration_size > 0, or pass adabs=False")
    for name, n, have in (("calib_samples", spec.calib_samples, len(data.calib_y)),
                          ("test_samples", spec.test_samples, len(data.test_y))):
        if spec.adabs or name == "test_samples":
            if n > have:
                raise ValueError(f"{name}={n} but data has only {have} images in that split (0 uses all)")
    nt = spec.test_samples or len(data.test_y)
    nc = spec.calib_samples or len(data.calib_y)
    return data.test_x[:nt], data.test_y[:nt], data.calib_x[:nc], data.calib_y[:nc]


def pcm_curve(model: nn.Module, data: Any, spec: PCMCurveSpec, *, device: str | torch.device | None = None,
              export: bool = True, progress: bool = True) -> dict:
    """Test accuracy of ``model`` on PCM hardware at each time in ``spec.times`` (mean, std, every repeat).

    ``model`` (trained, left untouched) is converted with :func:`pcm_rpu_config`; each repeat programs it
    once, then drifts it to each time, applies AdaBS on the calibration split if ``spec.adabs`` and evaluates
    on the test split. ``export=True`` evaluates a digital copy holding the exported weights when the
    converters are ideal (same logits, faster); the result's ``settings`` say which path ran.
    Returns plain lists and strings (JSON-able).
    """
    if not isinstance(spec, PCMCurveSpec):
        raise ValueError(f"spec={spec!r} must be a PCMCurveSpec")
    _check_model(model)
    test_x, test_y, calib_x, calib_y = _check_data(data, spec)
    check_backend(spec.tile)
    from tqdm.auto import tqdm

    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    base = copy.deepcopy(model).to(dev).eval()
    _, clean_acc = evaluate(base, test_x, test_y, mean=data.mean, std=data.std, batch_size=_EVAL_BATCH, device=dev)
    analog = to_analog(model, pcm_rpu_config(ideal_io=spec.ideal_io, tile=spec.tile))
    exported = export and _exportable(analog)
    net = copy.deepcopy(base) if exported else analog.to(dev)

    def calib_batches() -> Iterable:
        return batch_iterator(calib_x)(calib_x, calib_y, _CALIB_BATCH, train=False, mean=data.mean, std=data.std,
                                       device=dev)

    accs = [[0.0] * len(spec.times) for _ in range(spec.repeats)]
    losses = [[0.0] * len(spec.times) for _ in range(spec.repeats)]
    bar = tqdm(total=spec.repeats * len(spec.times), desc="PCM inference", disable=not progress, leave=False)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        for r in range(spec.repeats):
            _reseed(_seed(spec.seed, r, "program"), dev)
            analog.program_analog_weights()
            for j, t in enumerate(spec.times):
                _reseed(_seed(spec.seed, r, t), dev)
                analog.drift_analog_weights(t)
                if exported:
                    export_weights(analog, net)
                _copy_bn_state(base, net)
                if spec.adabs:
                    reestimate_statistics(net, calib_batches(), device=dev)
                losses[r][j], accs[r][j] = evaluate(net, test_x, test_y, mean=data.mean, std=data.std,
                                                    batch_size=_EVAL_BATCH, device=dev)
                bar.update()
    bar.close()
    acc = torch.tensor(accs, dtype=torch.float64)
    std = acc.std(0, unbiased=True) if spec.repeats > 1 else torch.zeros(len(spec.times), dtype=torch.float64)
    rpu = next(analog.analog_tiles()).rpu_config
    return {
        "times": list(spec.times), "mean_acc": acc.mean(0).tolist(), "std_acc": std.tolist(), "accs": accs,
        "mean_loss": torch.tensor(losses, dtype=torch.float64).mean(0).tolist(), "losses": losses,
        "digital_acc": clean_acc,
        "settings": {
            "tile": spec.tile, "rpu_config": type(rpu).__name__, "ideal_io": spec.ideal_io,
            "converters": "ideal (programming, read and drift noise only)" if spec.ideal_io
            else "aihwkit default DAC/ADC resolution, bounds and output noise",
            "path": "exported digital weights" if exported else "analog forward",
            "adabs": spec.adabs, "calib_samples": len(calib_y) if spec.adabs else 0, "test_samples": len(test_y),
            "repeats": spec.repeats, "seed": spec.seed, "std": "sample std over repeats (ddof=1)",
            "noise_model": str(rpu.noise_model), "drift_compensation": str(rpu.drift_compensation),
            "reproducible": spec.ideal_io or spec.tile == "torch", "tiles_per_layer": 1, "layers": len(conv_linear_weights(model)),
            "aihwkit": _aihwkit().version, "torch": torch.__version__,
        },
    }
