"""Notebook 05's study (robustness to noisy analog hardware, SAMSON sec. 6-7): the population of runs per scale, their
conductance-noise curves (Figs. 2 and 6), the Pareto frontier of (clean accuracy, accuracy at sigma_c = 0.4), the PCM
curves (Fig. 5); the paper's claims are tested on them, paired by seed and noise draw, in
:mod:`samlab.experiments.robustness_claims` (rows of :data:`samlab.ledger.CLAIMS`).

The population (Fig. 2 plus Fig. 6's noise-trained runs): SGD, SGD + noise, SGD + clipping, and SAM, ASAM, SAMSON_2,
SAMSON_inf, each plain and with clipping; ``noise_trained=True`` adds SAM/ASAM/SAMSON + noise (Fig. 6). Every
run is keyed by its :class:`~samlab.experiments.seeds.Setting`; labels are for display only.

* paper: SAMSON Table 5's protocol and settings (VGG-13 on CIFAR-10; Table 6, MobileNetV2, on CIFAR-100), sec. 5's
  training protocol, 10 noise draws per sigma_c, AdaBS per draw, PCM over 10 repeats.
* quick: notebook 04's quick runs (small_cnn, 6 epochs, cosine, the methods' default rho), so its five plain runs
  are reused when notebook 04 has stored them; clipping at c = 0.1 (small_cnn's conv weights have std 0.04-0.1
  after training: c = 0.2 binds only in the first and last layer) and additive noise with the paper's
  sigma_G 0.94, G_max 25, alpha 2.0. 11 runs: 12 minutes (717 s) for all of them from an empty store on the shared
  2-core machine at load ~7, measured 2026-11-30 (SGD 32 s, SGD + noise 50 s, SAM 130 s, SAMSON_inf 35 s: the load
  varied); 5 noise draws per sigma_c.
* quick, ``dataset="mnist1d"`` (notebooks 05-06's default): the BatchNorm CNN on MNIST-1D (:data:`MNIST1D_RUNS`),
  the same eleven settings plus Fig. 6's SAM/ASAM/SAMSON + noise, with rho per method chosen on the calibration
  split (:data:`MNIST1D_RHO`) and clipping at :data:`MNIST1D_CLIP`, five training seeds each (75 runs, :data:`MNIST1D_RUNS`); the
  noise-trained runs keep their method's rho; :func:`~samlab.experiments.seeds.pool_seeds` merges a setting's
  seeds for the figures, while the claims compare settings seed by seed.
* smoke: notebook 04's smoke protocol (256/128 images, 2 epochs) for five runs (:data:`SMOKE_RUNS`: every kind of
  run and code path, in seconds); numbers meaningless.

Claims are verdicts on paired intervals (:mod:`samlab.evidence`), never on std bands side by side: over training
seeds on MNIST-1D, over noise draws only on the one-seed image populations (the rows' method says which).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

from ..analog import DEFAULT_TIMES, YEAR, PCMCurveSpec, pcm_times
from ..checks import check_choice, check_int, check_number, check_scale
from ..data import IMAGE_DATASETS
from ..methods import method_key, method_label, run_label, variant_fields
from ..noise import NoiseCurveSpec, robustness_gap
from ..papers import MNIST1D_PROTOCOL, NOISE_SIGMA_G, preset
from ..runs import RunStore
from ..train import TrainConfig
from ..train.load import measure_run
from .cifar import notebook_configs
from .seeds import Setting, seed_count, setting_of

__all__ = ["MNIST1D_MODEL", "MNIST1D_RUNS", "MNIST1D_RHO", "MNIST1D_CLIP",
           "SIGMAS", "HIGH_SIGMA", "CLIP_DEFAULT", "SMOKE_RUNS", "population", "clipped_at", "noise_curve_spec",
           "pcm_curve_spec", "pareto_front", "curve_points", "robustness_rows", "robustness_table",
           "pcm_rows", "noise_curves", "stored_noise_curves", "pcm_curves", "stored_pcm_curves", "series",
           "pcm_series", "DATA_NAMES", "data_title", "describe"]

#: sigma_c grid of the curves: 0 (no noise) to 0.4 (Fig. 2's last level), finer near 0 where the curves bend.
SIGMAS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
#: The noise level of the robustness gap and the Pareto frontier's second axis (sec. 6.3).
HIGH_SIGMA = 0.4
#: Weight clipping c per scale (paper: Table 5's per-method c, not this default).
CLIP_DEFAULT = {"smoke": 0.1, "quick": 0.1, "paper": 0.2}
_ALPHA = 2.0  # +-alpha std clipping with additive noise, sec. 6.1's default on CIFAR
_METHODS = ("SAM", "ASAM", "SAMSON_2", "SAMSON_inf")
#: The runs of the smoke scale: one of each kind (plain, noise, clipping; SGD and a sharpness-aware method).
SMOKE_RUNS = (Setting("SGD"), Setting("SGD", "noise"), Setting("SGD", "clipping"), Setting("SAMSON_2"),
              Setting("SAMSON_2", "clipping"))

#: MNIST-1D's population (notebooks 05 and 06 at smoke/quick scale): samlab's BatchNorm version of the authors' CNN
#: (AdaBS needs BatchNorm), trained as notebook 04b trains it (SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine,
#: batch 100), each setting with several training seeds, so that differences can be set against the seed spread.
MNIST1D_MODEL = "mnist1d_cnn_bn"
#: Epochs at quick scale: SGD reaches 99.9 % train / 94.4 % test (2 seeds), the authors' CNN baseline is ~94 %.
MNIST1D_EPOCHS = 20
#: rho per method, each the best mean accuracy on the 400 calibration signals (never test) over SAM 0.02/0.05/0.1/0.2,
#: ASAM 0.2/0.5/1/2, SAMSON_2 0.2/0.5/1/2, SAMSON_inf 0.1/0.2/0.5/1 (20 epochs, seeds 0-1; measured 2026-11-30):
#: SAM 94.6 % at 0.05, ASAM 94.1 % at 0.2 (77.8 % at 2: too large), SAMSON_2 94.9 % at 2 (93.2-93.9 % below),
#: SAMSON_inf 93.9 % at 0.2 (91.8 % at 1). One seed's calibration accuracy has a binomial std of ~1.2 points, so
#: neighbouring grid values are near-ties; the rule, not the eye, picked them.
MNIST1D_RHO = {"SAM": 0.05, "ASAM": 0.2, "SAMSON_2": 2.0, "SAMSON_inf": 0.2}
#: Clipping c on MNIST-1D: binds in every layer (trained conv/linear weight std 0.16-0.6, max 0.56-1.6) and costs SGD
#: about one point (calibration 94.2 %, test 93.3 % vs 94.4 % unclipped, 2 seeds; c 0.2/0.3/0.5 cost less): BatchNorm
#: after each conv undoes the scale, not the shape, of clipped filters. Same c as the digits population's.
MNIST1D_CLIP = 0.1
#: Per scale: epochs, training seeds and data subset (smoke: 400 training and 200 test signals, 2 epochs, 1 seed).
MNIST1D_RUNS: dict[str, dict[str, Any]] = {
    "smoke": dict(epochs=2, seeds=(0,), batch_size=50, max_train_samples=400, max_test_samples=200),
    "quick": dict(epochs=MNIST1D_EPOCHS, seeds=(0, 1, 2, 3, 4)),
}


def population(scale: str = "quick", dataset: str | None = None, *, clip: float | None = None,
               noise_trained: bool | None = None, seeds: Sequence[int] | None = None) -> dict[Setting, TrainConfig]:
    """Notebook 05's runs at ``scale``, keyed by :class:`~samlab.experiments.seeds.Setting` in the paper's row order
    (labels ``SGD``, ``SGD + noise``, ``SAM + clipping``...).

    ``dataset=None``: CIFAR-10 at paper scale, else :func:`samlab.data.available_dataset` (the offline digits when
    the CIFAR files are missing). ``dataset="mnist1d"`` (smoke and quick only): :data:`MNIST1D_RUNS`, the BatchNorm
    CNN on MNIST-1D with several training seeds (each run's setting holds its seed; the image populations have one
    seed, and their settings none). ``clip``
    overrides the scale's c for every clipped run (at paper scale it replaces Table 5's per-method c).
    ``noise_trained`` adds SAM/ASAM/SAMSON + noise (Fig. 6); default: at paper scale, and in the quick MNIST-1D
    population (runs take seconds there, and notebook 06's "noise" configuration needs more than SGD's runs).
    ``seeds`` replaces the scale's training seeds (MNIST-1D; the image populations have one seed, notebook 04's).
    """
    check_scale(scale)
    if dataset is not None:
        check_choice("dataset", dataset, (*IMAGE_DATASETS, "mnist1d"))
    if clip is not None:
        clip = check_number("clip", clip, low=0.0, low_open=True)
    if noise_trained is None:
        noise_trained = scale == "paper" or (scale == "quick" and dataset == "mnist1d")
    noise_trained = bool(noise_trained)
    if dataset == "mnist1d":
        return _mnist1d_population(scale, clip, noise_trained, seeds)
    if seeds is not None:
        raise ValueError("seeds= applies to the MNIST-1D population only (dataset='mnist1d'); the image populations "
                         "reuse notebook 04's one-seed runs")
    if scale == "paper":
        ds = "cifar10" if dataset is None else dataset
        table = "table6-mobilenetv2-cifar100" if ds == "cifar100" else "table5-vgg13_bn-cifar10"
        group = preset(f"samson-{table}")
        if ds == "digits":  # the offline stand-in: same protocol, no flips (a flipped digit is another digit)
            group = tuple(replace(c, dataset="digits", augment=False) for c in group)
        if clip is not None:
            group = tuple(replace(c, clip=clip) if c.clip is not None else c for c in group)
        out = {setting_of(c, seed=False): c for c in group}
        if not noise_trained:
            out = {k: c for k, c in out.items() if not (k.training == "noise" and c.method != "base")}
        return out
    base = notebook_configs(scale, dataset)
    return _settings(base, CLIP_DEFAULT[scale] if clip is None else clip, noise_trained, scale, None)


def _settings(plain: Mapping[Setting, TrainConfig], c: float, noise_trained: bool, scale: str,
              seed: int | None) -> dict[Setting, TrainConfig]:
    """From one plain config per method (``SGD`` and :data:`_METHODS`, by name): the population's settings in table
    order, SGD with additive noise and with clipping at c, each method plain, clipped (and noise-trained); smoke
    keeps :data:`SMOKE_RUNS` (and SAMSON_2 + noise when ``noise_trained``)."""
    noisy = dict(noise_sigma_g=NOISE_SIGMA_G, clip_std_alpha=_ALPHA)
    out = {}
    for m in ("SGD", *_METHODS):
        out[Setting(m, "plain", seed)] = plain[m]
        if m == "SGD":
            out[Setting(m, "noise", seed)] = replace(plain[m], **noisy)
        out[Setting(m, "clipping", seed)] = replace(plain[m], clip=c)
        if noise_trained and m != "SGD":
            out[Setting(m, "noise", seed)] = replace(plain[m], **noisy)
    if scale == "smoke":
        keep = {*SMOKE_RUNS, *((Setting("SAMSON_2", "noise"),) if noise_trained else ())}
        out = {k: v for k, v in out.items() if k.pooled() in keep}
    return out


def _mnist1d_population(scale: str, clip: float | None, noise_trained: bool,
                        seeds: Sequence[int] | None) -> dict[Setting, TrainConfig]:
    if scale == "paper":
        raise ValueError("dataset='mnist1d' has smoke and quick scales; paper scale is SAMSON's CIFAR protocol "
                         "(dataset 'cifar10' or 'cifar100')")
    spec = dict(MNIST1D_RUNS[scale])
    default_seeds = spec.pop("seeds")
    seeds = tuple(default_seeds if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} must be distinct training seeds, at least one")
    seeds = tuple(check_int("seed", s, low=0) for s in seeds)
    common = {**MNIST1D_PROTOCOL["sgd"], "model": MNIST1D_MODEL, **spec}
    c = MNIST1D_CLIP if clip is None else clip
    out: dict[Setting, TrainConfig] = {}
    for seed in seeds:
        plain = {"SGD": TrainConfig(method="base", seed=seed, **common),
                 **{m: TrainConfig(**variant_fields(m), rho=MNIST1D_RHO[m], seed=seed, **common) for m in _METHODS}}
        out.update(_settings(plain, c, noise_trained, scale, seed))
    return out


def clipped_at(configs: Mapping[Setting, TrainConfig], c: float) -> dict[Setting, TrainConfig]:
    """The clipped runs of ``configs`` with clip c instead (for the widget's "c" among the paper's grid)."""
    c = check_number("c", c, low=0.0, low_open=True)
    return {k: replace(cfg, clip=c) for k, cfg in configs.items() if k.training == "clipping" and cfg.clip}


def noise_curve_spec(scale: str = "quick", *, adabs: bool = True, sigmas: Sequence[float] = SIGMAS
                     ) -> NoiseCurveSpec:
    """The noise curve of every run at ``scale``: draws 10 (paper, as in Fig. 2), 5 (quick), 2 (smoke); AdaBS per
    draw on the whole calibration split (paper, quick) or 64 images (smoke); smoke keeps sigma_c 0, 0.2 and 0.4."""
    check_scale(scale)
    draws = {"smoke": 2, "quick": 5, "paper": 10}[scale]
    sig = tuple(sigmas) if scale != "smoke" else tuple(s for s in sigmas if s in (0.0, 0.2, 0.4)) or tuple(sigmas)
    return NoiseCurveSpec(sigmas=sig, draws=draws, adabs=bool(adabs), calib_samples=64 if scale == "smoke" else None)


def pcm_curve_spec(scale: str = "quick", *, adabs: bool = True) -> PCMCurveSpec:
    """The PCM curve of every run at ``scale``: read times from 1 s to 10 years plus 1 year (Fig. 5's time);
    repeats 10 (paper), 3 (quick), 1 (smoke)."""
    check_scale(scale)
    times = {"smoke": (1.0, YEAR), "quick": pcm_times(5), "paper": DEFAULT_TIMES}[scale]
    repeats = {"smoke": 1, "quick": 3, "paper": 10}[scale]
    return PCMCurveSpec(times=tuple(times), repeats=repeats, adabs=bool(adabs),
                        calib_samples=64 if scale == "smoke" else 0)


# ------------------------------------------------------------------------------------------------ Pareto
def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which points are on the Pareto frontier when both coordinates are to be maximised.

    A point is dominated when another is at least as good in both coordinates and better in one; equal points
    do not dominate each other (both stay on the frontier). NaN coordinates are refused.
    """
    pts = [(float(a), float(b)) for a, b in points]
    if any(math.isnan(a) or math.isnan(b) for a, b in pts):
        raise ValueError(f"points={points!r} must not contain NaN")
    return [not any(c >= a and d >= b and (c > a or d > b) for c, d in pts) for a, b in pts]


def _at(curve: Mapping[str, Any], sigma: float, what: str = "mean_acc") -> float:
    for i, s in enumerate(curve["sigmas"]):
        if math.isclose(s, sigma, abs_tol=1e-12):
            return curve[what][i]
    raise ValueError(f"sigma={sigma!r} is not one of the curve's sigmas {list(curve['sigmas'])}")


def curve_points(curves: Mapping[Setting, Mapping[str, Any]], high: float = HIGH_SIGMA
                 ) -> dict[Setting, tuple[float, float]]:
    """Per run: (clean accuracy, mean accuracy at sigma_c = ``high``), the Pareto plane's coordinates."""
    return {k: (_at(c, 0.0), _at(c, high)) for k, c in curves.items()}


def robustness_rows(curves: Mapping[Setting, Mapping[str, Any]], configs: Mapping[Setting, Any], *,
                    high: float = HIGH_SIGMA) -> list[dict[str, Any]]:
    """Per run: setting, name (its label), the config's label, colour key, training, clean accuracy, accuracy at
    ``high`` (mean, std over draws), the robustness gap (sec. 6.3, per draw then averaged) and whether it is on the
    Pareto frontier."""
    names = list(curves)
    pts = curve_points(curves, high)
    front = dict(zip(names, pareto_front([pts[k] for k in names])))
    rows = []
    for k in names:
        cfg, c = configs[k], curves[k]
        gap, gap_std = robustness_gap(c, 0.0, high)
        rows.append({"setting": k, "name": k.label, "label": cfg.label, "key": method_key(cfg), "training": k.training,
                     "clean": _at(c, 0.0), "high": _at(c, high), "high_std": _at(c, high, "std_acc"),
                     "gap": gap, "gap_std": gap_std, "front": front[k], "draws": c["draws"],
                     "seeds": c.get("seeds", 1)})
    return rows


def robustness_table(curves: Mapping[Setting, Mapping[str, Any]], configs: Mapping[Setting, Any], *,
                     high: float = HIGH_SIGMA) -> Any:
    """:func:`robustness_rows` as a table in percent, sorted by accuracy at ``high``; ± is the std over draws (over
    seeds and draws for curves merged by :func:`~samlab.experiments.seeds.pool_seeds`, which also adds a seeds
    column and the clean spread)."""
    import pandas as pd  # optional dependency (notebooks extra)

    rows = sorted(robustness_rows(curves, configs, high=high), key=lambda r: -r["high"])
    pooled = any(r["seeds"] > 1 for r in rows)
    return pd.DataFrame.from_dict({r["name"]: {
        "run": r["label"], **({"seeds": r["seeds"], "clean acc %": f"{100 * r['clean']:.2f} ± "
                               f"{100 * _at(curves[r['setting']], 0.0, 'std_acc'):.2f}"} if pooled else
                              {"clean acc %": round(100 * r["clean"], 2)}),
        f"acc % at σc={high:g}": f"{100 * r['high']:.2f} ± {100 * r['high_std']:.2f}",
        "gap % (clean - noisy)": f"{100 * r['gap']:.2f} ± {100 * r['gap_std']:.2f}",
        "Pareto": "yes" if r["front"] else ""} for r in rows}, orient="index")


def pcm_rows(pcm: Mapping[Setting, Mapping[str, Any]], t: float | None = None) -> list[dict[str, Any]]:
    """Per run: setting, name (its label), accuracy (mean, std over repeats) at read time ``t`` (default 1 year,
    Fig. 5) and the digital one."""
    t = YEAR if t is None else float(t)
    out = []
    for k, c in pcm.items():
        i = min(range(len(c["times"])), key=lambda j: abs(math.log(max(c["times"][j], 1e-9) / max(t, 1e-9))))
        out.append({"setting": k, "name": k.label, "time_s": c["times"][i], "acc": c["mean_acc"][i],
                    "std": c["std_acc"][i], "digital": c["digital_acc"], "repeats": len(c["accs"]), "seeds": c.get("seeds", 1)})
    return out


# ------------------------------------------------------------------------------------------------ computing
def noise_curves(configs: Mapping[Setting, TrainConfig], spec: NoiseCurveSpec, *, store: RunStore | None = None,
                 progress: bool = True) -> dict[Setting, dict[str, Any]]:
    """The noise curve ``spec`` (:func:`noise_curve_spec`) of every finished run: from the store, or computed once
    and stored in the run's folder (:func:`samlab.train.load.measure_run`)."""
    return _measured(configs, spec, store, progress)


def stored_noise_curves(configs: Mapping[Setting, TrainConfig], spec: NoiseCurveSpec, *,
                        store: RunStore | None = None) -> tuple[dict[Setting, dict[str, Any]], list[Setting]]:
    """``(curves in the store, settings without one)``: never trains nor computes (widgets)."""
    return _stored(configs, spec, store)


def pcm_curves(configs: Mapping[Setting, TrainConfig], spec: PCMCurveSpec, *, store: RunStore | None = None,
               progress: bool = True) -> dict[Setting, dict[str, Any]]:
    """The PCM curve ``spec`` (:func:`pcm_curve_spec`; accuracy against time after programming) of every finished
    run, from the store or computed once and stored in the run's folder; raises
    :class:`samlab.analog.AnalogUnavailableError` without a working aihwkit when one must be computed."""
    return _measured(configs, spec, store, progress)


def stored_pcm_curves(configs: Mapping[Setting, TrainConfig], spec: PCMCurveSpec, *,
                      store: RunStore | None = None) -> tuple[dict[Setting, dict[str, Any]], list[Setting]]:
    """``(PCM curves in the store, settings without one)``: never trains nor computes."""
    return _stored(configs, spec, store)


def _measured(configs: Mapping[Setting, TrainConfig], spec: Any, store: RunStore | None, progress: bool) -> dict:
    store = store if store is not None else RunStore()
    return {k: measure_run(c, spec, store=store, progress=progress) for k, c in configs.items()}


def _stored(configs: Mapping[Setting, TrainConfig], spec: Any, store: RunStore | None) -> tuple[dict, list]:
    store = store if store is not None else RunStore()
    found = {k: store.stored_measure(c, spec) for k, c in configs.items()}
    return {k: v for k, v in found.items() if v is not None}, [k for k, v in found.items() if v is None]


# ------------------------------------------------------------------------------------------------ plot data
def series(curves: Mapping[Setting, Mapping[str, Any]], configs: Mapping[Setting, Any], *,
           high: float = HIGH_SIGMA) -> list[dict[str, Any]]:
    """Plain data for :func:`samlab.plots.plot_noise_curves`: per run its label (mathtext), colour key,
    training, method (plain label), sigmas, mean and std over draws, clean and ``high`` accuracies and whether it is on the frontier."""
    rows = {r["setting"]: r for r in robustness_rows(curves, configs, high=high)}
    return [{"name": k.label, "label": run_label(configs[k]), "key": rows[k]["key"], "training": k.training,
             "method": method_label(configs[k], plain=True), "sigmas": list(c["sigmas"]), "mean": list(c["mean_acc"]), "std": list(c["std_acc"]),
             "clean": rows[k]["clean"], "high": rows[k]["high"], "high_std": rows[k]["high_std"],
             "front": rows[k]["front"]} for k, c in curves.items()]


def pcm_series(pcm: Mapping[Setting, Mapping[str, Any]], configs: Mapping[Setting, Any]) -> list[dict[str, Any]]:
    """Plain data for :func:`samlab.plots.plot_pcm_curves`."""
    return [{"name": k.label, "label": run_label(configs[k]), "key": method_key(configs[k]), "training": k.training,
             "times": list(c["times"]), "mean": list(c["mean_acc"]), "std": list(c["std_acc"]),
             "digital": c["digital_acc"]} for k, c in pcm.items()]


#: How titles name each data set: the offline stand-in as such, never "CIFAR".
DATA_NAMES = {"digits": "scikit-learn digits (offline stand-in for CIFAR-10)", "cifar10": "CIFAR-10",
              "cifar100": "CIFAR-100", "mnist1d": "MNIST-1D"}


def data_title(results: Sequence[Any], scale: str) -> str:
    """What the figures were computed on, from the stored summaries: model, data set (the offline digits named as
    such, never "CIFAR"), test images, scale."""
    r = next(iter(results))
    d = r.summary.get("data", {})
    name = d.get("name", r.config.dataset)
    shown = DATA_NAMES.get(name, name)
    what = "signals" if name == "mnist1d" else "images"
    seeds = seed_count(results)
    return (f"{r.config.model} on {shown}, {d.get('n_test', '?')} test {what}, {scale} scale"
            + (f", {seeds} training seeds" if seeds > 1 else ""))


def describe(configs: Mapping[Setting, TrainConfig], scale: str) -> str:
    """One line on a population: runs, model, data set, epochs, training seeds, clipping c and rho per method."""
    c = next(iter(configs.values()))
    clip_c = sorted({cfg.clip for cfg in configs.values() if cfg.clip})
    seeds = sorted({cfg.seed for cfg in configs.values()})
    rhos = {k.method: cfg.rho for k, cfg in configs.items() if cfg.method != "base"}
    return (f"scale {scale}: {len(configs)} runs of {c.model} on {c.dataset}, {c.epochs} epochs, training seeds "
            f"{seeds}; clipping c = {clip_c}; rho {rhos}")
