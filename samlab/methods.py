"""The method family in one place: names, paper defaults, labels and colours.

Every other module (the optimizer, the trainer, the studies, the plots, the widgets) takes these from here,
so SAMSON_2/SAMSON_inf, a method's default rho or its colour are written once. Pure Python: importing it
loads neither torch nor matplotlib.

Functions that name a method take either a method string (plus ``p``, ``base``, ``beta``, ``gamma`` as
keywords) or any config object (or dict) with those fields, e.g. a :class:`samlab.train.TrainConfig`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

__all__ = [
    "GEOMETRIES", "TRAIN_METHODS", "BASES", "DEFAULT_RHO", "DEFAULT_ETA", "ESAM_BETA", "ESAM_GAMMA",
    "PAPER_VARIANTS", "METHOD_COLORS", "METHOD_FIELDS",
    "variant_fields", "format_p", "method_key", "method_name", "method_label", "method_color", "run_label",
    "robustness_suffix", "same_protocol",
]

#: The neighbourhood geometries of the worst-case perturbation: SAM (eq. 2), ASAM (eq. 4), SAMSON (eq. 6).
GEOMETRIES = ("sam", "asam", "samson")
#: Training methods: ``base`` (the base optimizer alone, no sharpness-aware wrapper: the SGD or Adam baseline, as
#: the config's ``base`` says), the three geometries, and ESAM (SAM + SWP + SDS).
TRAIN_METHODS = ("base", "sam", "asam", "samson", "esam")
#: Base optimizers: trained alone (method ``base``) or wrapped by a sharpness-aware method.
BASES = ("sgd", "adam")
#: Paper defaults for CIFAR-10: SAM rho 0.05 (Foret et al.), ASAM and SAMSON rho 0.5 (SAMSON sec. 5).
DEFAULT_RHO = {"sam": 0.05, "asam": 0.5, "samson": 0.5}
#: ASAM's eta 0.01 (Kwon et al.); SAMSON's eq. 6 has no eta (0); SAM ignores it.
DEFAULT_ETA = {"sam": 0.0, "asam": 0.01, "samson": 0.0}
#: ESAM's defaults for ResNet-18 (Du et al. 2022, sec. 3.1): keep 60 % of the tensors, 50 % of the samples.
ESAM_BETA, ESAM_GAMMA = 0.6, 0.5
#: The paper's named variants: plain name -> (geometry, p). SAMSON is studied at p = 2 and p = inf.
PAPER_VARIANTS = {"SAM": ("sam", 2.0), "ASAM": ("asam", 2.0), "SAMSON_2": ("samson", 2.0),
                  "SAMSON_inf": ("samson", math.inf)}


def variant_fields(name: str) -> dict[str, Any]:
    """The config fields of a plain method name: ``"SGD"`` -> ``{"method": "base"}`` (the SGD baseline), a
    :data:`PAPER_VARIANTS` name -> its geometry and p (``"SAMSON_inf"`` -> ``{"method": "samson", "p": inf}``).
    ValueError for other names."""
    if name == "SGD":
        return {"method": "base"}
    if name not in PAPER_VARIANTS:
        raise ValueError(f"method={name!r} is not allowed; choose one of "
                         f"{', '.join(map(repr, ('SGD', *PAPER_VARIANTS)))}")
    geometry, p = PAPER_VARIANTS[name]
    return {"method": geometry, "p": p}


#: One colour per method across all notebooks (SAMSON at another p in purple).
METHOD_COLORS = {
    "adam": "#7f7f7f", "sgd": "#7f7f7f", "base": "#7f7f7f",
    "sam": "#1f77b4", "asam": "#ff7f0e", "samson_2": "#2ca02c", "samson_inf": "#d62728", "samson": "#9467bd",
    "esam": "#8c564b",
}
_OTHER_COLOR = "#17becf"
_SUBSCRIPTS = str.maketrans("0123456789.", "₀₁₂₃₄₅₆₇₈₉.")

#: The fields that say which algorithm ran (and with which seed); the rest of a config is the protocol.
METHOD_FIELDS = ("method", "rho", "p", "eta", "adaptive_params", "beta", "gamma", "clip", "seed", "device")


def _field(obj: Any, name: str, default: Any) -> Any:
    if isinstance(obj, Mapping):
        value = obj.get(name, default)
    else:
        value = getattr(obj, name, default)
    return default if value is None else value


def _unpack(method: Any, p: float | None, base: str | None, beta: float | None,
            gamma: float | None) -> tuple[str, float | None, str, float, float]:
    """(method, p, base, beta, gamma) from a method string plus keywords, or from a config."""
    if isinstance(method, str):
        return method.lower(), p, (base or "sgd").lower(), 1.0 if beta is None else beta, 1.0 if gamma is None else gamma
    m = str(_field(method, "method", "base")).lower()
    m = "base" if m == "sgd" else m   # samlab 0.1's name of the baseline (a stored config kept as a dict)
    return (m, float(_field(method, "p", 2.0)), str(_field(method, "base", "sgd")).lower(),
            float(_field(method, "beta", ESAM_BETA if m == "esam" else 1.0)),
            float(_field(method, "gamma", ESAM_GAMMA if m == "esam" else 1.0)))


def format_p(p: float) -> str:
    """``2.0 -> '2'``, ``inf -> '∞'``, ``1.5 -> '1.5'`` (for labels)."""
    p = float(p)
    return "∞" if math.isinf(p) else f"{p:g}"


def _p_text(p: float) -> str:
    return "inf" if math.isinf(float(p)) else f"{float(p):g}"


def method_key(method: Any, p: float | None = None, *, base: str | None = None) -> str:
    """Colour key: ``sgd``/``adam`` (a baseline, by its base optimizer), ``sam``, ``asam``, ``samson_2``,
    ``samson_inf``, ``samson`` (another p), ``esam``."""
    m, p, b, _, _ = _unpack(method, p, base, None, None)
    if m == "base" and not isinstance(method, str):
        return b
    if m == "samson" and p is not None and (math.isinf(float(p)) or float(p) == 2.0):
        return f"samson_{_p_text(p)}"
    return m


def method_name(method: Any, p: float | None = None, *, base: str | None = None, beta: float | None = None,
                gamma: float | None = None) -> str:
    """The algorithm's plain name, no hyper-parameters: SGD, Adam, SAM, ASAM, SAMSON_2, SAMSON_inf, SAMSON_3,
    ESAM, ESAM-SWP, ESAM-SDS. The names :data:`samlab.papers.PAPER_RESULTS` uses."""
    m, p, b, beta, gamma = _unpack(method, p, base, beta, gamma)
    if m in ("sgd", "adam", "base"):   # a baseline: named by its optimizer (the toy study's method is "adam")
        return "Adam" if (m == "adam" or b == "adam") else "SGD"
    if m == "samson":
        return "SAMSON" if p is None else f"SAMSON_{_p_text(p)}"
    if m == "esam":
        return "ESAM" if beta < 1 and gamma < 1 else ("ESAM-SWP" if beta < 1 else "ESAM-SDS")
    return m.upper()


def method_label(method: Any, p: float | None = None, *, plain: bool = False) -> str:
    """Display label: ``Adam``, ``SAM``, ``ASAM``, ``SAMSON$_{2}$`` (mathtext; ``plain=True`` gives ``SAMSON₂``,
    no mathtext, which renders several times faster in a redraw)."""
    name = method_name(method, p)
    if not name.startswith("SAMSON_"):
        return name
    m, p, *_ = _unpack(method, p, None, None, None)
    if plain:
        return "SAMSON" + ("∞" if math.isinf(float(p)) else format_p(p).translate(_SUBSCRIPTS))
    return "SAMSON$_{" + (r"\infty" if math.isinf(float(p)) else format_p(p)) + "}$"


def method_color(method: Any, p: float | None = None) -> str:
    """The method's colour (see :data:`METHOD_COLORS`)."""
    return METHOD_COLORS.get(method_key(method, p), _OTHER_COLOR)


def run_label(config: Any, *, tex: bool = True) -> str:
    """Human name of a run: :func:`method_name` (``SAMSON$_{\\infty}$`` with ``tex``) plus what sets it apart.

    Appended: ESAM fractions other than the paper's (β=0.6, γ=0.5), a non-SGD base, weight clipping, additive-noise
    training (:func:`robustness_suffix`).
    """
    m, p, base, beta, gamma = _unpack(config, None, None, None, None)
    name = method_label(config) if tex else method_name(config)
    if m == "esam" and (beta, gamma) != (ESAM_BETA, ESAM_GAMMA):
        parts = ([f"β={beta:g}"] if beta < 1 else []) + ([f"γ={gamma:g}"] if gamma < 1 else [])
        name += f" ({', '.join(parts)})"
    if m != "base" and base != "sgd":
        name += f" ({base.capitalize()})"
    clip = _field(config, "clip", None)
    if clip is not None:
        name += f" + clip {float(clip):g}"
    return name + robustness_suffix(config)


def same_protocol(a: Any, b: Any) -> bool:
    """Whether two run configs differ only in method fields (:data:`METHOD_FIELDS`): their curves compare.

    Configs of different classes, or a config the store could not resolve to a class (kept as a dict), never
    share a protocol.
    """
    if type(a) is not type(b) or not dataclasses.is_dataclass(a):
        return False
    keep = [f.name for f in dataclasses.fields(a) if f.name not in METHOD_FIELDS]
    return all(getattr(a, k) == getattr(b, k) for k in keep)


def robustness_suffix(config: object) -> str:
    """What :func:`samlab.methods.run_label` does not name yet: `` + noise (±2·std)`` (additive-noise training with
    std clipping, the paper's pair), `` + noise`` alone, `` + clip ±2·std`` alone ('' when neither is set); a
    sigma_G/G_max other than the paper's 0.94/25 is spelled out."""
    get = (lambda k: config.get(k)) if isinstance(config, dict) else (lambda k: getattr(config, k, None))
    sigma_g, g_max, alpha = get("noise_sigma_g"), get("noise_g_max"), get("clip_std_alpha")
    if sigma_g is None:
        return "" if alpha is None else f" + clip ±{float(alpha):g}·std"
    g_max = 25.0 if g_max is None else float(g_max)
    out = " + noise" + ("" if (float(sigma_g), g_max) == (0.94, 25.0) else f" σG={float(sigma_g):g}/{g_max:g}")
    return out + ("" if alpha is None else f" (±{float(alpha):g}·std)")
