"""TrainConfig: one training run, validated when built (see :mod:`samlab.train` for the choices)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..checks import check_choice, check_int, check_number
from ..data import IMAGE_DATASETS, MNIST1D_DATASETS
from ..methods import BASES, DEFAULT_ETA, DEFAULT_RHO, ESAM_BETA, ESAM_GAMMA, TRAIN_METHODS, run_label
from ..models import MNIST1D_MODELS, model_names
from ..perturbation import SWP_NORMALIZATIONS
from ..perturbation import ADAPTIVE_PARAMS, DEFAULT_ADAPTIVE
from ..runs import register_config
from .precision import AMP_MODES, split_plan

__all__ = ["SCHEDULES", "DEVICES", "IMAGE_MODELS", "TrainConfig"]

SCHEDULES = ("step", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")


def _image_models() -> tuple[str, ...]:
    return tuple(n for n in model_names() if n != "table2_mlp")  # the 2-D toy MLP takes no images


def _image_datasets() -> tuple[str, ...]:
    return (*IMAGE_DATASETS, *MNIST1D_DATASETS)


IMAGE_MODELS = _image_models()


def _check_input_kind(model: str, dataset: str) -> None:
    """MNIST-1D models take MNIST-1D signals and nothing else; the image models take images."""
    if (model in MNIST1D_MODELS) != (dataset in MNIST1D_DATASETS):
        raise ValueError(f"model={model!r} does not take dataset={dataset!r}: the models "
                         f"{', '.join(MNIST1D_MODELS)} go with dataset 'mnist1d', the others with image data sets")


@register_config
@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the SAMSON paper's CIFAR protocol (Sec. 5) with plain SGD.

    ``method`` is the sharpness-aware wrapper (``sam``, ``asam``, ``samson``, ``esam``) or ``base``: the base
    optimizer alone, the baseline; ``base`` is that optimizer (``sgd`` or ``adam``), so the Adam baseline is
    ``TrainConfig(method="base", base="adam")``. (samlab 0.1 called ``base`` ``sgd``; that name is still read.)

    Validated when built (unknown names, out-of-range numbers, a rho the method forbids raise
    ValueError naming the allowed values), so bad input never reaches data loading or training.
    ``device`` is not part of the run's identity (not in the key); neither is any field left at its default
    (:mod:`samlab.runs`), so a field added later with a default keeps the keys of stored runs.
    ``adaptive_params=None`` takes the method's default rule, the same as :class:`samlab.optim.SAM`'s
    (:data:`samlab.perturbation.DEFAULT_ADAPTIVE`: ``"weights"`` for ASAM, ``"weights_only"`` for SAMSON, whose
    eq. 5-6 define T through the layer's weight tensor; the argument is in :mod:`samlab.perturbation`); any rule
    of :data:`samlab.perturbation.ADAPTIVE_PARAMS` may be given for ASAM and SAMSON. SGD, SAM and ESAM use
    ``"weights"`` (T = 1 on every tensor). ``swp_normalization`` is ESAM's SWP scaling (:class:`samlab.optim.SAM`):
    ``"official"`` (the ESAM code's, the default) or ``"paper"`` (ESAM eq. 6, unbiased).

    Training for robustness (SAMSON sec. 6.1), with every method: ``clip`` clamps conv/linear weights to
    ``[-clip, clip]`` after each update (aggressive weight clipping; the paper's grid 0.05-0.2);
    ``noise_sigma_g`` switches on additive-noise training (eq. 9, Joshi et al.; ``None`` = off, 0.94 the paper's
    sigma_G, ``noise_g_max`` its G_max = 25) and ``clip_std_alpha`` clamps each conv/linear weight tensor to
    ``+-alpha std(W)`` after each update (2.0 on CIFAR). The paper always pairs the noise with the std clipping;
    each may be set alone here. ``clip`` and ``clip_std_alpha`` are alternative constraints and are refused
    together. The noise is drawn once per step, see :mod:`samlab.train.weight_noise`.
    """

    model: str = "resnet18"
    dataset: str = "cifar10"
    method: str = "base"
    rho: float | None = None
    p: float = 2.0
    eta: float | None = None
    adaptive_params: str | None = None
    beta: float | None = None
    gamma: float | None = None
    swp_normalization: str = "official"
    clip: float | None = None
    noise_sigma_g: float | None = None
    noise_g_max: float = 25.0
    clip_std_alpha: float | None = None
    base: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 200
    batch_size: int = 128
    schedule: str = "step"
    lr_step_every: int = 50
    lr_decay: float = 0.1
    augment: bool = True
    seed: int = 0
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    device: str = field(default="auto", metadata={"key": False})
    # Scale-out options (samlab.train.precision / samlab.train.distributed); at their defaults they leave keys alone.
    amp: str = "off"
    accumulate: int = 1
    ascent_splits: int = 1

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        check_choice("model", self.model, IMAGE_MODELS)
        check_choice("dataset", self.dataset, _image_datasets())
        if self.method == "sgd":   # samlab 0.1's name of the baseline, in the config.json of runs stored by it
            s("method", "base")
        m = check_choice("method", self.method, TRAIN_METHODS)
        check_choice("base", self.base, BASES)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("swp_normalization", self.swp_normalization, SWP_NORMALIZATIONS)
        if self.swp_normalization != "official" and m != "esam":
            raise ValueError(f"swp_normalization={self.swp_normalization!r} applies only to method 'esam' (SWP)")
        if self.adaptive_params is not None:
            check_choice("adaptive_params", self.adaptive_params, ADAPTIVE_PARAMS)
        check_choice("device", self.device, DEVICES)
        _check_input_kind(self.model, self.dataset)
        geometry = "sam" if m == "esam" else m
        # rho: 0 for plain training, > 0 for the sharpness-aware methods.
        if m == "base":
            rho = 0.0 if self.rho is None else check_number("rho", self.rho, low=0.0)
            if rho != 0:
                raise ValueError(f"rho={self.rho!r} is not allowed for method 'base' (the base optimizer alone has rho = 0); "
                                 f"use method 'sam', 'asam', 'samson' or 'esam' for rho > 0")
        else:
            rho = DEFAULT_RHO[geometry] if self.rho is None else check_number("rho", self.rho, low=0.0)
            if rho <= 0:
                raise ValueError(f"rho={self.rho!r} is not allowed for method {m!r}: rho must be > 0 "
                                 "(rho = 0 is the base optimizer alone: use method 'base')")
        s("rho", rho)
        p = check_number("p", self.p, low=1.0, allow_inf=True)
        if m != "samson" and p != 2.0:
            raise ValueError(f"p={self.p!r} applies only to method 'samson'; leave p=2 for method {m!r}")
        s("p", p)
        if m in ("asam", "samson"):
            s("eta", DEFAULT_ETA[m] if self.eta is None else check_number("eta", self.eta, low=0.0))
            s("adaptive_params", self.adaptive_params or DEFAULT_ADAPTIVE[m])
        else:
            if self.eta not in (None, 0, 0.0):
                raise ValueError(f"eta={self.eta!r} applies only to methods 'asam' and 'samson'")
            s("eta", 0.0)
            if self.adaptive_params not in (None, "weights"):
                raise ValueError(f"adaptive_params={self.adaptive_params!r} applies only to methods 'asam' and "
                                 "'samson'; leave it unset (or 'weights')")
            s("adaptive_params", "weights")
        if m == "esam":
            beta = ESAM_BETA if self.beta is None else check_number("beta", self.beta, low=0.0, high=1.0,
                                                                   low_open=True)
            gamma = ESAM_GAMMA if self.gamma is None else check_number("gamma", self.gamma, low=0.0, high=1.0,
                                                                      low_open=True)
            if beta == 1.0 and gamma == 1.0:
                raise ValueError("beta=1 and gamma=1 is plain SAM: use method 'sam' (ESAM needs beta < 1 or gamma < 1)")
        else:
            beta = 1.0 if self.beta is None else check_number("beta", self.beta, low=0.0, high=1.0, low_open=True)
            gamma = 1.0 if self.gamma is None else check_number("gamma", self.gamma, low=0.0, high=1.0,
                                                               low_open=True)
            if beta != 1.0 or gamma != 1.0:
                raise ValueError(f"beta={self.beta!r}, gamma={self.gamma!r}: beta/gamma < 1 (ESAM's SWP/SDS) are "
                                 f"allowed only with method 'esam', not {m!r}")
        s("beta", beta)
        s("gamma", gamma)
        if self.clip is not None:
            s("clip", check_number("clip", self.clip, low=0.0, low_open=True))
        if self.noise_sigma_g is not None:
            s("noise_sigma_g", check_number("noise_sigma_g", self.noise_sigma_g, low=0.0))
        s("noise_g_max", check_number("noise_g_max", self.noise_g_max, low=0.0, low_open=True))
        if self.noise_sigma_g is None and self.noise_g_max != 25.0:
            raise ValueError(f"noise_g_max={self.noise_g_max!r} applies only with additive-noise training: set "
                             "noise_sigma_g (0.94 in the paper) or leave noise_g_max at 25")
        if self.clip_std_alpha is not None:
            s("clip_std_alpha", check_number("clip_std_alpha", self.clip_std_alpha, low=0.0, low_open=True))
            if self.clip is not None:
                raise ValueError(f"clip={self.clip!r} and clip_std_alpha={self.clip_std_alpha!r} are two alternative "
                                 "weight constraints (SAMSON sec. 6.1: clipping to [-c, c], or to +-alpha std(W) "
                                 "with additive noise); set one of them")
        s("lr", check_number("lr", self.lr, low=0.0, low_open=True))
        s("momentum", check_number("momentum", self.momentum, low=0.0, high=1.0, high_open=True))
        s("weight_decay", check_number("weight_decay", self.weight_decay, low=0.0))
        s("lr_decay", check_number("lr_decay", self.lr_decay, low=0.0, high=1.0, low_open=True))
        s("epochs", check_int("epochs", self.epochs, low=1))
        s("batch_size", check_int("batch_size", self.batch_size, low=1))
        s("lr_step_every", check_int("lr_step_every", self.lr_step_every, low=1))
        s("seed", check_int("seed", self.seed, low=0))
        s("max_train_samples", check_int("max_train_samples", self.max_train_samples, low=1, optional=True))
        s("max_test_samples", check_int("max_test_samples", self.max_test_samples, low=1, optional=True))
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment={self.augment!r} must be True or False")
        self._check_scale_out()

    def _check_scale_out(self) -> None:
        """amp / accumulate / ascent_splits (:mod:`samlab.train.precision`); the process count is checked at run time."""
        check_choice("amp", self.amp, AMP_MODES)
        object.__setattr__(self, "accumulate", check_int("accumulate", self.accumulate, low=1))
        object.__setattr__(self, "ascent_splits", check_int("ascent_splits", self.ascent_splits, low=1))
        if self.method == "esam" and (self.amp != "off" or self.accumulate > 1 or self.ascent_splits > 1):
            raise ValueError("amp, accumulate > 1 and ascent_splits > 1 are not supported with method 'esam' "
                             "(its data selection needs the whole batch's per-sample losses)")
        split_plan(self.batch_size, ascent_splits=self.ascent_splits, accumulate=self.accumulate,
                   sharpness_aware=self.method != "base")
        if self.noise_sigma_g is not None and (self.amp != "off" or self.accumulate > 1 or self.ascent_splits > 1):
            raise ValueError(f"noise_sigma_g={self.noise_sigma_g!r}: additive-noise training runs in the plain training "
                             "loop only, not with amp, accumulate > 1 or ascent_splits > 1")

    @property
    def label(self) -> str:
        """Plain-text name of the run (``SAMSON_inf``, ``ESAM-SWP``, ``SAM + noise (±2·std)``...), see :func:`run_label`."""
        return run_label(self, tex=False)
